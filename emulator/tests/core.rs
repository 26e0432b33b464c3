//! Core tests: small Thumb programs from tests/asm, assembled at test time with
//! arm-none-eabi-gcc, run on the machine and ended through semihosting.

use pybsim::core::Exit;
use pybsim::loader::load_file;
use pybsim::soc::{Machine, MachineConfig};
use pybsim::testkit::build_program;

struct Run {
    exit: Exit,
    out: String,
    cycles: u64,
    insns: u64,
    machine: Machine,
    log: pybsim::core::EventLog,
    symbols: pybsim::loader::Symbols,
}

fn devices() -> Vec<(String, u32, u32, Box<dyn pybsim_peripherals::Device>)> {
    vec![
        (
            "RCC".into(),
            0x4002_3800,
            0x400,
            Box::new(pybsim_peripherals::rcc::Rcc::new(12_000_000)),
        ),
        (
            "FLASH".into(),
            0x4002_3C00,
            0x400,
            Box::new(pybsim_peripherals::flash::Flash::new()),
        ),
        (
            "GPIOA".into(),
            0x4002_0000,
            0x400,
            Box::new(pybsim_peripherals::unmodelled::Unmodelled::new("GPIOA")),
        ),
    ]
}

fn run(name: &str) -> Run {
    run_with(name, |_| {})
}

fn run_with(name: &str, setup: impl FnOnce(&mut Machine)) -> Run {
    let elf = build_program(name).unwrap_or_else(|e| panic!("assembling {name}: {e}"));
    let image = load_file(&elf, None).expect("load");
    let mut m = Machine::new(MachineConfig {
        devices: devices(),
        ..Default::default()
    })
    .expect("machine");
    m.load(&image).expect("load image");
    m.reset();
    m.set_budget(2_000_000_000);
    let log = m.log_events();
    setup(&mut m);
    let exit = m.run();
    let out = String::from_utf8_lossy(&m.semihost_output()).into_owned();
    let (cycles, insns) = (m.now(), m.insns());
    Run {
        exit,
        out,
        cycles,
        insns,
        machine: m,
        log,
        symbols: image.symbols,
    }
}

fn words(r: &mut Run, sym: &str, n: usize) -> Vec<u32> {
    let s = r
        .symbols
        .by_name(sym)
        .unwrap_or_else(|| panic!("no symbol {sym}"));
    let addr = s.addr;
    r.machine.read_words(addr, n)
}

fn assert_pass(r: &Run, name: &str) {
    assert_eq!(
        r.exit,
        Exit::SemihostExit(0),
        "{name}: output {:?} after {} cycles",
        r.out,
        r.cycles
    );
}

#[test]
fn fpu_arithmetic() {
    let r = run("fpu");
    assert_pass(&r, "fpu");
}

#[test]
fn nested_interrupts_at_three_priorities() {
    let mut r = run("nested_irq");
    assert_pass(&r, "nested_irq");
    let n = words(&mut r, "irq_log_len", 1)[0];
    assert_eq!(n, 6);
    let log = words(&mut r, "irq_log", 2);
    let bytes: Vec<u8> = log.iter().flat_map(|w| w.to_le_bytes()).take(6).collect();
    assert_eq!(bytes, [0x10, 0x11, 0x12, 0x22, 0x21, 0x20]);
}

#[test]
fn tail_chaining_costs_six_cycles() {
    let mut r = run("tailchain");
    assert_pass(&r, "tailchain");
    let t = words(&mut r, "results", 6);
    assert_eq!((t[4], t[5]), (16, 17));
    // t1 -> t2: five handler instructions after the sample (ldr literal 2, str 1, mrs 1,
    // str 1, bx lr to EXC_RETURN), then the 6-cycle tail-chain.
    let chain = t[2] - t[1];
    let ret = t[3] - t[2];
    // The same five instructions then a 10-cycle exception return instead of a 6-cycle
    // tail-chain: the difference is exactly 4.
    assert_eq!(ret - chain, 10 - 6, "t = {t:?}");
}

#[test]
fn pendsv_switches_between_two_psp_stacks() {
    let r = run("pendsv");
    assert_pass(&r, "pendsv");
}

#[test]
fn systick_counts_1000_in_one_virtual_second() {
    let mut r = run("systick");
    assert_pass(&r, "systick");
    let v = words(&mut r, "systick_results", 3);
    // Every SysTick underflow is exactly 16000 cycles (1 ms at 16 MHz) after the last:
    // 1000 of them in one virtual second. The handler is entered at the next
    // instruction-block boundary after each, a few cycles later.
    let log = r.log.lines();
    let ticks: Vec<u64> = log
        .iter()
        .filter(|(_, w)| w == "systick")
        .map(|(t, _)| *t)
        .collect();
    let entries: Vec<u64> = log
        .iter()
        .filter(|(_, w)| w == "enter 15")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(ticks.len(), entries.len());
    for (t, e) in ticks.iter().zip(&entries) {
        let latency = e - t;
        assert!((12..40).contains(&latency), "entry latency {latency}");
    }
    assert!(ticks.len() >= 999, "{} ticks", ticks.len());
    for w in ticks.windows(2) {
        assert_eq!(w[1] - w[0], 16_000, "tick spacing");
    }
    assert_eq!(
        ticks[999.min(ticks.len() - 1)] - ticks[0],
        16_000 * (ticks.len() as u64 - 1)
    );
    // main counts from CYCCNT enable, a few cycles before SysTick starts, and stops at
    // CYCCNT >= 16_000_000: the 1000th tick falls just after its window.
    assert_eq!(v[0], ticks.len() as u32);
    assert_eq!(v[0], 999, "ticks counted by the program: {v:?}");
    assert_eq!(v[2], 0);
}

#[test]
fn wfi_skips_ten_virtual_seconds() {
    let mut r = run("wfi");
    assert_pass(&r, "wfi");
    let v = words(&mut r, "wfi_results", 3);
    assert_eq!(v[0], 100);
    assert_eq!(v[1], 100, "one wake-up per tick");
    assert!(r.cycles >= 160_000_000, "virtual time {} cycles", r.cycles);
    // Executed instructions stay tiny: the clock jumped instead of spinning.
    assert!(r.insns < 100_000, "{} instructions", r.insns);
}

#[test]
fn bitband_set_and_clear() {
    let r = run("bitband");
    assert_pass(&r, "bitband");
}

#[test]
fn unmapped_load_enters_busfault_with_bfar() {
    let r = run("busfault");
    assert_pass(&r, "busfault");
}

#[test]
fn unmapped_load_without_busfault_enabled_escalates_to_hardfault() {
    let r = run("hardfault");
    assert_pass(&r, "hardfault");
}

#[test]
fn two_runs_give_identical_cycles_and_event_logs() {
    let a = run("nested_irq");
    let b = run("nested_irq");
    assert_eq!(a.cycles, b.cycles);
    let (la, lb) = (a.log.lines(), b.log.lines());
    assert_eq!(la, lb);
    assert!(la.len() >= 6);
    let c = run("systick");
    let d = run("systick");
    assert_eq!(c.cycles, d.cycles);
    assert_eq!(c.log.lines(), d.log.lines());
}

#[test]
fn fp_context_survives_an_interrupt_that_uses_the_fpu() {
    let r = run("fpcontext");
    assert_pass(&r, "fpcontext");
}

#[test]
fn a_branch_to_an_even_address_is_a_usagefault_with_invstate() {
    let r = run("invstate");
    assert_pass(&r, "invstate");
}

// ----- load/store pipeline micro-benchmarks (tests/asm/pipeline.S) -----
//
// Each snippet of pipeline.S runs PIPE_N times between two DWT_CYCCNT reads; snippet 0
// is empty. A rule's test asserts (results[k] - results[0]) == PIPE_N * cycles, with
// the cycles the rule gives on a real STM32F407 (jnk0le's "pipeline cycle test" notes,
// doc/cortex_m3m4.md of jnk0le/random) or in the Cortex-M3/M4 TRM's load/store timing
// (docs/cycle-facts.md §5.2-5.3). A rule the cycle model does not follow yet is ignored
// with the reason; its figure stays the reference's.

const PIPE_N: u32 = 100;
const PIPE_SNIPPETS: usize = 31;

/// results[k] - results[0] for every snippet of pipeline.S (one run for all tests).
fn pipeline_diffs() -> &'static [u32] {
    static DIFFS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    DIFFS.get_or_init(|| {
        let mut r = run("pipeline");
        assert_pass(&r, "pipeline");
        let raw = words(&mut r, "results", PIPE_SNIPPETS);
        raw.iter().map(|&t| t.wrapping_sub(raw[0])).collect()
    })
}

/// Asserts snippet `k` (named `what`) costs `cycles` per iteration.
fn assert_snippet(k: usize, what: &str, cycles: u32) {
    let d = pipeline_diffs()[k];
    assert_eq!(
        d,
        PIPE_N * cycles,
        "snippet {k} ({what}): {d} cycles over {PIPE_N} runs, i.e. {} per run; expected {cycles}",
        d as f64 / PIPE_N as f64
    );
}

#[test]
fn pipeline_alu_and_single_load_store() {
    assert_snippet(1, "adds", 1);
    assert_snippet(2, "ldr", 2);
    assert_snippet(5, "str imm", 1);
    assert_snippet(6, "str; str", 2);
}

#[test]
fn pipeline_neighbouring_loads_pipeline() {
    assert_snippet(3, "ldr; ldr", 3);
    assert_snippet(4, "ldr [r,r]; ldr; ldr (TRM example)", 4);
}

#[test]
fn pipeline_register_offset_store_takes_two() {
    assert_snippet(7, "str [r,r]", 2);
}

#[test]
fn pipeline_load_and_register_offset_store_eat_a_nop() {
    assert_snippet(8, "str [r,r]; nop", 2);
    assert_snippet(9, "ldr; nop", 2);
    assert_snippet(10, "ldr; cmp", 3);
}

#[test]
fn pipeline_address_register_written_by_the_previous_instruction_costs_one() {
    assert_snippet(11, "adds r4; ldr [r4]", 4);
    assert_snippet(12, "adds r5; ldr [r4, r5]", 4);
    assert_snippet(13, "adds r4; str [r4]", 3);
    assert_snippet(14, "adds r4; adds; ldr [r4]", 4);
}

#[test]
fn pipeline_pointer_chase_waits_for_the_loaded_base() {
    assert_snippet(25, "ldr r0, [r4]; ldr [r0]", 5);
}

#[test]
fn pipeline_store_then_load_does_not_pipeline() {
    assert_snippet(15, "str; ldr", 4);
    assert_snippet(16, "str [r,r]; ldr", 4);
    assert_snippet(18, "str; ldm", 5);
    assert_snippet(19, "str; stm", 4);
}

#[test]
#[ignore = "not modelled yet: an immediate-offset store after a load fills the load's stall (tried: it moved Embench from the reference, geomean 0.856 -> 0.846, and perf_bench faster)"]
fn pipeline_store_after_load_fills_its_stall() {
    assert_snippet(17, "ldr; str", 2);
}

#[test]
fn pipeline_indexed_accesses_on_one_base_do_not_chain() {
    assert_snippet(20, "ldr [r4], #4; ldr [r4], #-4", 4);
    assert_snippet(21, "post-indexed loads on alternating bases", 5);
    assert_snippet(22, "ldr [r4, #4]!; ldr [r4, #-4]!", 4);
    assert_snippet(23, "str [r4], #4; str [r4], #-4", 3);
    assert_snippet(24, "post-indexed stores on alternating bases", 4);
}

#[test]
fn pipeline_word_aligned_wide_loads_pipeline() {
    assert_snippet(26, "ldr.w; ldr.w aligned", 3);
}

#[test]
fn pipeline_wide_loads_at_half_word_addresses_do_not_pipeline() {
    assert_snippet(27, "adds; ldr.w; ldr.w at half-word addresses", 5);
}

#[test]
#[ignore = "not modelled yet: pipelining across memory blocks depends on run-time addresses, not on the instructions a block's cost is decided from"]
fn pipeline_loads_pipeline_only_within_one_memory_block() {
    assert_snippet(28, "ldr SRAM1; ldr CCM", 4);
    assert_snippet(29, "ldr SRAM1; ldr SRAM2", 4);
    assert_snippet(30, "ldr SRAM1; str CCM", 3);
}
