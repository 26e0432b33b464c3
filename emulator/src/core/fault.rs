//! What the user sees of a guest fault: the report (registers, fault status registers
//! decoded, fault addresses, a backtrace) that ends a run with exit status 2.

use super::scs;

/// A guest fault, as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultReport {
    pub what: String,
    pub regs: [u32; 16],
    pub xpsr: u32,
    pub cfsr: u32,
    pub hfsr: u32,
    pub bfar: Option<u32>,
    pub mmfar: Option<u32>,
    /// Return addresses, innermost first: the faulting PC, the stacked PC of each
    /// exception frame found, and LR.
    pub backtrace: Vec<u32>,
    pub cycles: u64,
}

/// Decodes CFSR/HFSR bits into their names.
pub fn decode_fault_status(cfsr: u32, hfsr: u32) -> Vec<&'static str> {
    const CFSR: &[(u32, &str)] = &[
        (1 << 0, "IACCVIOL (instruction access violation)"),
        (1 << 1, "DACCVIOL (data access violation)"),
        (1 << 3, "MUNSTKERR"),
        (1 << 4, "MSTKERR"),
        (1 << 5, "MLSPERR"),
        (1 << 7, "MMARVALID"),
        (1 << 8, "IBUSERR (instruction bus error)"),
        (1 << 9, "PRECISERR (precise data bus error)"),
        (1 << 10, "IMPRECISERR (imprecise data bus error)"),
        (1 << 11, "UNSTKERR"),
        (1 << 12, "STKERR (stacking error)"),
        (1 << 13, "LSPERR"),
        (1 << 15, "BFARVALID"),
        (1 << 16, "UNDEFINSTR (undefined instruction)"),
        (1 << 17, "INVSTATE (invalid state: Thumb bit clear)"),
        (1 << 18, "INVPC (invalid EXC_RETURN)"),
        (1 << 19, "NOCP (coprocessor disabled)"),
        (1 << 24, "UNALIGNED"),
        (1 << 25, "DIVBYZERO"),
    ];
    let mut v: Vec<&str> = CFSR
        .iter()
        .filter(|(b, _)| cfsr & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if hfsr & scs::HFSR_FORCED != 0 {
        v.push("HFSR.FORCED (escalated to HardFault)");
    }
    if hfsr & scs::HFSR_VECTTBL != 0 {
        v.push("HFSR.VECTTBL (vector table read fault)");
    }
    if hfsr & (1 << 31) != 0 {
        v.push("HFSR.DEBUGEVT (breakpoint with no debugger)");
    }
    v
}
