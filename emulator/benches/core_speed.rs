//! Speed of the core: instructions per second and virtual MHz on a compute-heavy
//! program (tests/asm/compute.c: CRC-32 over 1 MiB and a sieve), with the block hook,
//! cycle model and scheduler on, against unicorn running the same code with no hooks.
//! Run with `cargo bench -p pybsim --bench core_speed`.

use std::time::Instant;

use pybsim::loader::load_file;
use pybsim::machine::{Exit, Machine, MachineConfig};

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
    let (mut insns, mut cycles) = (0, 0);
    for _ in 0..runs {
        let mut m = Machine::new(MachineConfig::default()).expect("machine");
        m.load(&image).expect("load");
        m.reset();
        let t = Instant::now();
        let exit = m.run();
        let dt = t.elapsed().as_secs_f64();
        assert_eq!(exit, Exit::SemihostExit(0), "compute must pass");
        best_hooked = best_hooked.min(dt);
        insns = m.sys().insns;
        cycles = m.now();
        let bare = pybsim::cpu::bare_run(&flash)
            .expect("bare run")
            .as_secs_f64();
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
        let t = pybsim::cpu::bare_run_hooked(&flash, true)
            .expect("bare run")
            .as_secs_f64();
        best_empty = best_empty.min(t);
    }
    println!(
        "unicorn with an empty block hook: {:.3} s ({:.1} % of no hooks): the floor for per-block work",
        best_empty,
        100.0 * best_bare / best_empty
    );
}
