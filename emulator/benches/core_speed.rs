//! Speed of the core: instructions per second and virtual MHz on a compute-heavy
//! program (tests/asm/compute.c: CRC-32 over 1 MiB and a sieve), with the block hook,
//! cycle model and scheduler on, against unicorn running the same code with no hooks.
//! Run with `cargo bench -p pybsim --bench core_speed`.

use std::time::Instant;

use nix::time::{clock_gettime, ClockId};

use pybsim::core::Exit;
use pybsim::loader::load_file;
use pybsim::soc::{Machine, MachineConfig};

/// CPU time of this thread in seconds: steadier than wall time on a loaded machine.
fn cpu_now() -> f64 {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9
}

fn main() {
    let elf = pybsim::testkit::build_program("compute").expect("assemble compute.c");
    let image = load_file(&elf, None).expect("load");
    let mut flash = vec![0xFFu8; 1 << 20];
    for s in &image.segments {
        if (0x0800_0000..0x0810_0000).contains(&s.addr) {
            let o = (s.addr - 0x0800_0000) as usize;
            flash[o..o + s.data.len()].copy_from_slice(&s.data);
        }
    }
    let runs = 5;
    let mut best_hooked = f64::MAX;
    let mut best_bare = f64::MAX;
    let (mut cpu_hooked, mut cpu_bare, mut cpu_empty) = (f64::MAX, f64::MAX, f64::MAX);
    let (mut insns, mut cycles) = (0, 0);
    for _ in 0..runs {
        let mut m = Machine::new(MachineConfig::default()).expect("machine");
        m.load(&image).expect("load");
        m.reset();
        let t = Instant::now();
        let c = cpu_now();
        let exit = m.run();
        cpu_hooked = cpu_hooked.min(cpu_now() - c);
        let dt = t.elapsed().as_secs_f64();
        assert_eq!(exit, Exit::SemihostExit(0), "compute must pass");
        best_hooked = best_hooked.min(dt);
        insns = m.insns();
        cycles = m.now();
        let c = cpu_now();
        let bare = pybsim::core::cpu::bare_run(&flash)
            .expect("bare run")
            .as_secs_f64();
        cpu_bare = cpu_bare.min(cpu_now() - c);
        best_bare = best_bare.min(bare);
    }
    println!("compute.c: {insns} instructions, {cycles} virtual cycles");
    println!(
        "pybsim (block hook + cycle model + scheduler): {:.3} s, {:.0} M instructions/s, {:.0} virtual MHz",
        best_hooked,
        insns as f64 / best_hooked / 1e6,
        cycles as f64 / best_hooked / 1e6
    );
    println!(
        "unicorn with no hooks:                          {:.3} s, {:.0} M instructions/s",
        best_bare,
        insns as f64 / best_bare / 1e6
    );
    println!(
        "pybsim speed / bare unicorn: {:.1} %",
        100.0 * best_bare / best_hooked
    );
    let mut best_empty = f64::MAX;
    for _ in 0..runs {
        let c = cpu_now();
        let t = pybsim::core::cpu::bare_run_hooked(&flash, true)
            .expect("bare run")
            .as_secs_f64();
        cpu_empty = cpu_empty.min(cpu_now() - c);
        best_empty = best_empty.min(t);
    }
    println!(
        "unicorn with an empty block hook: {:.3} s ({:.1} % of no hooks): the floor for per-block work",
        best_empty,
        100.0 * best_bare / best_empty
    );
    println!(
        "thread CPU time (setup included): pybsim {:.3} s, no hooks {:.3} s, empty hook {:.3} s: pybsim = {:.1} % of no hooks",
        cpu_hooked,
        cpu_bare,
        cpu_empty,
        100.0 * cpu_bare / cpu_hooked
    );
}
