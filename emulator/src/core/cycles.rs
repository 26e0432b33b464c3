//! The cycle model: what each Thumb instruction costs on a Cortex-M4 with the STM32F405's
//! flash accelerator (ART), and what exceptions cost.
//!
//! Every figure comes from this table and its sources (see docs/cycle-facts.md):
//!
//! | class | cycles | source |
//! |---|---|---|
//! | ALU, MOV, shift, compare, extend, bitfield, ADR | 1 | Cortex-M4 TRM Table 3-1 |
//! | MUL, MLA, MLS, long multiplies (SMULL, UMLAL, ...) | 1 | TRM Table 3-1 (M4 single-cycle MAC) |
//! | SDIV, UDIV | 2-12, modelled as 2 + significant-bit difference/4 unknown here: a fixed 7 | TRM Table 3-1, footnote: early termination |
//! | LDR/LDRB/LDRH/LDRSB/LDRSH single | 2, or 1 when it follows another single load (pipelined) | TRM Table 3-1 and §3.3.2 |
//! | STR single, immediate offset | 1 (write buffer) | M3/M4 TRM §3.3; measured on STM32F407 |
//! | STR single, register offset | 2 | measured on STM32F407 (cycle-facts §5.3) |
//! | a load or store whose base or offset register the previous instruction wrote (ALU result, loaded register, store write-back) | +1 | measured on STM32F407: "base address and offset must be available 1 cycle earlier than normally" (jnk0le, cycle-facts §5.3) |
//! | a load whose base the previous load wrote back (post/pre-indexed on one base) | not pipelined (2) | measured on STM32F407: indexed loads "cannot be chained back to back on same register base" (jnk0le) |
//! | a load (single, dual, multiple, VLDR/VLDM) right after an immediate-offset store | +1 | measured on STM32F407: "stores cannot be pipelined with following load instructions (adds extra cycle to store)", "stores can't be pipelined with following load multiple" (jnk0le) |
//! | NOP right after a single load or a register-offset store | 0 | measured on STM32F407: "load instructions can eat following nop", a reg offset store "can eat following nop" (jnk0le) |
//! | a 32-bit load at a half-word address after a load | not pipelined (2) | measured on STM32F407: "32bit opcode loads (ldr.w, ldrb.w) may fail to pipeline correctly if they are not positioned at word aligned boundaries" (jnk0le) |
//! | LDRD/STRD | 3 | TRM Table 3-1 |
//! | LDM/STM/PUSH/POP | 1+N; +P when loading PC | TRM Table 3-1 |
//! | LDREX/STREX | 2 | TRM Table 3-1 |
//! | B/BL/BX/BLX taken, writes to PC | 1+P | TRM Table 3-1 |
//! | conditional branch, CBZ/CBNZ not taken | 1 | TRM Table 3-1 |
//! | TBB/TBH | 2+P | TRM Table 3-1 |
//! | IT, NOP, hints, barriers (1+B with B=0), MRS/MSR, CPS | 1 | TRM Table 3-1 |
//! | VADD/VSUB/VMUL/VNMUL/VABS/VNEG/VCMP/VCVT/VMOV | 1 | TRM Table 7-1 (FPU) |
//! | VMOV between two core registers and 2 S or 1 D | 2 | TRM Table 7-1 |
//! | VMLA/VMLS/VNMLA/VNMLS/VFMA/VFMS/VFNMA/VFNMS | 3 | TRM Table 7-1 |
//! | VDIV.F32, VSQRT.F32 | 14 | TRM Table 7-1 |
//! | VLDR/VSTR single | 2 | TRM Table 7-1 |
//! | VLDM/VSTM/VPUSH/VPOP | 1+N (registers, 2 per double) | TRM Table 7-1 |
//! | exception entry / exit / tail-chain | 12 / 10 / 6 | ARM KA 103489845; Yiu |
//! | FP context stacking without lazy stacking | +17 | ARM KA 103489845 |
//!
//! P, the pipeline refill, is 1, plus 1 when the target is a 32-bit instruction at a
//! half-word address, plus 1 for indirect branches (BX, POP/LDM/LDR to PC, TBB/TBH) whose
//! target the core cannot speculate (TRM: "1 to 3 depending on alignment and width of the
//! target instruction, and whether the processor manages to speculate the address early").
//!
//! Flash (RM0090 §3.4-3.5): an instruction fetch from flash with LATENCY = n wait states
//! goes through the ART accelerator: 64 lines of 128 bits of instruction cache (modelled
//! 4-way set associative, LRU: the manual does not give the organisation), and the prefetch
//! buffer (PRFTEN) that reads the next sequential line while the current one executes. A
//! line found in the cache costs nothing extra; a sequential line with prefetch costs
//! `max(0, n + 1 - cycles spent in the previous line)`; any other miss costs n. Code in
//! SRAM runs without wait states. Data reads from flash (literal pools through the D-cache)
//! are not modelled: the core cannot see them without per-access hooks.
//!
//! The load/store rules are decided from the instructions of a block when it is first
//! seen (each instruction against the one before it in the block); tests/asm/pipeline.S
//! checks each against its figure. Not modelled, with the reason:
//! - loads pipeline only within one memory block (SRAM1, SRAM2, CCM; jnk0le): that
//!   depends on run-time addresses;
//! - an immediate-offset store right after a load fills the load's stall (jnk0le, "1
//!   IPC"): tried, it moved Embench and perf_bench away from their references;
//! - SDIV/UDIV early termination (2-12 cycles by operand magnitudes): run-time operands;
//! - the ART's D-cache and flash data reads: run-time addresses of loads that hit flash;
//! - a branch miss waiting for the ART prefetch in flight: measured and proposed in
//!   docs/art-prefetch-proposal.md, to go into the ART's rewrite for issue 14.
//!
//! The calibration against public references (Embench IoT, CoreMark, MicroPython's
//! flash wait-state deltas) is scripts/calibrate.sh.

/// Cost summary of one decoded block.
#[derive(Debug, Clone, Default)]
pub struct BlockCost {
    /// Instructions in the block (IT counted).
    pub insns: u32,
    /// Cycles with zero wait states, conditional branch at the end not taken.
    pub base: u32,
    /// Extra cycles when the block's final conditional branch is taken (its P).
    pub taken_extra: u32,
    /// Address after the last instruction.
    pub fallthrough: u32,
    /// The first instruction is 32-bit and not word-aligned.
    pub first_wide_unaligned: bool,
    /// The block ends with an indirect branch.
    pub ends_indirect: bool,
    /// Cycles spent in each 16-byte flash line the block covers, in order.
    pub line_cycles: Vec<u16>,
    /// Address of the first 16-byte line.
    pub first_line: u32,
    /// Contains an instruction the model does not know (costed as 1).
    pub unknown: u32,
    /// Cycles from the block start to each instruction that may access a peripheral
    /// (a load or store whose base is neither SP nor PC), in order. The machine maps the
    /// n-th peripheral access of a block run to the n-th entry, so a register read sees
    /// the time of its own instruction, not of the block start.
    pub mem_offsets: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Alu,
    Load,
    StoreImm,
    StoreReg,
    Other,
}

struct Insn {
    len: u32,
    cycles: u32,
    kind: Kind,
    /// Conditional branch: costs P more when taken.
    cond_branch: bool,
    indirect: bool,
    unknown: bool,
}

impl Insn {
    fn new(len: u32, cycles: u32, kind: Kind) -> Self {
        Insn {
            len,
            cycles,
            kind,
            cond_branch: false,
            indirect: false,
            unknown: false,
        }
    }
    fn branch(len: u32, base: u32, indirect: bool) -> Self {
        Insn {
            indirect,
            ..Insn::new(len, base, Kind::Other)
        }
    }
    fn cond(len: u32) -> Self {
        Insn {
            cond_branch: true,
            ..Insn::new(len, 1, Kind::Other)
        }
    }
}

/// Pipeline refill for a taken branch before P's alignment/speculation terms.
pub const P_BASE: u32 = 1;
pub const DIV_CYCLES: u32 = 7;
pub const EXC_ENTRY: u64 = 12;
pub const EXC_EXIT: u64 = 10;
pub const TAIL_CHAIN: u64 = 6;
pub const FP_STACKING: u64 = 17;

fn is_wide(hw: u16) -> bool {
    (hw >> 11) >= 0b11101
}

fn decode16(hw: u16) -> Insn {
    let alu = Insn::new(2, 1, Kind::Alu);
    match hw >> 12 {
        0x0..=0x3 => alu,
        0x4 => {
            if hw & 0xF800 == 0x4800 {
                return Insn::new(2, 2, Kind::Load); // LDR literal
            }
            if hw & 0xFF00 == 0x4700 {
                // BX / BLX register
                return Insn::branch(2, 1 + P_BASE, true);
            }
            if hw & 0xFC00 == 0x4400 {
                // ADD/CMP/MOV high registers; writing PC branches.
                let op = (hw >> 8) & 3;
                let rd = ((hw >> 4) & 8) | (hw & 7);
                if rd == 15 && op != 1 {
                    return Insn::branch(2, 1 + P_BASE, true);
                }
            }
            alu
        }
        0x5 => {
            // Register-offset loads and stores: opB = bits 11:9.
            let op = (hw >> 9) & 7;
            if op <= 2 {
                Insn::new(2, 2, Kind::StoreReg)
            } else {
                Insn::new(2, 2, Kind::Load)
            }
        }
        0x6..=0x9 => {
            if hw & 0x0800 != 0 {
                Insn::new(2, 2, Kind::Load)
            } else {
                Insn::new(2, 1, Kind::StoreImm)
            }
        }
        0xA => alu, // ADR, ADD SP
        0xB => {
            let op = (hw >> 8) & 0xF;
            match op {
                0x1 | 0x3 | 0x9 | 0xB => Insn::cond(2), // CBZ/CBNZ
                0x4 | 0x5 => {
                    let n = (hw & 0xFF).count_ones() + ((hw >> 8) & 1) as u32;
                    Insn::new(2, 1 + n, Kind::Other) // PUSH
                }
                0xC | 0xD => {
                    let n = (hw & 0xFF).count_ones() + ((hw >> 8) & 1) as u32;
                    if hw & 0x100 != 0 {
                        Insn::branch(2, 1 + n + P_BASE, true) // POP {.., pc}
                    } else {
                        Insn::new(2, 1 + n, Kind::Other)
                    }
                }
                0xE => Insn::new(2, 1, Kind::Other), // BKPT
                0xF => Insn::new(2, 1, Kind::Other), // IT and hints
                _ => alu,
            }
        }
        0xC => {
            let n = (hw & 0xFF).count_ones().max(1);
            Insn::new(2, 1 + n, Kind::Other) // LDM/STM
        }
        0xD => {
            let cond = (hw >> 8) & 0xF;
            match cond {
                0xE => Insn::new(2, 1, Kind::Other), // UDF (faults before it costs)
                0xF => Insn::new(2, 1, Kind::Other), // SVC
                _ => Insn::cond(2),
            }
        }
        0xE => Insn::branch(2, 1 + P_BASE, false), // B
        _ => Insn {
            unknown: true,
            ..Insn::new(2, 1, Kind::Other)
        },
    }
}

fn decode_vfp(hw1: u16, hw2: u16) -> Insn {
    let op = (hw1 >> 8) & 0xF;
    if op == 0xE {
        if hw2 & 0x10 == 0 {
            // VFP data processing (ARM ARM A7.5 Table A7-16).
            let opc1 = (((hw1 >> 7) & 1) << 2) | ((hw1 >> 4) & 3);
            let c = match opc1 {
                0b000 | 0b001 => 3,
                0b010 | 0b011 => 1,
                0b100 => 14,
                0b101 | 0b110 => 3,
                _ => {
                    let opc2 = hw1 & 0xF;
                    let opc3 = (hw2 >> 6) & 3;
                    if opc2 == 1 && opc3 == 3 {
                        14 // VSQRT
                    } else {
                        1
                    }
                }
            };
            return Insn::new(4, c, Kind::Other);
        }
        // Transfers between core and extension registers, VMRS/VMSR.
        return Insn::new(4, 1, Kind::Other);
    }
    // Extension register load/store (hw1 = 1110 110x xxxx).
    let opcode = (hw1 >> 4) & 0x1F;
    if opcode & 0b11110 == 0b00100 {
        return Insn::new(4, 2, Kind::Other); // VMOV two core registers
    }
    if opcode & 0b10011 == 0b10000 || opcode & 0b10011 == 0b10001 {
        return Insn::new(4, 2, Kind::Other); // VSTR / VLDR
    }
    // VLDM/VSTM/VPUSH/VPOP: imm8 counts words (two per double register).
    let n = (hw2 & 0xFF) as u32;
    Insn::new(4, 1 + n.max(1), Kind::Other)
}

fn decode32(hw1: u16, hw2: u16) -> Insn {
    let op1 = (hw1 >> 11) & 3;
    let alu = Insn::new(4, 1, Kind::Alu);
    match op1 {
        0b01 => {
            if hw1 & 0x0400 != 0 {
                return decode_vfp(hw1, hw2);
            }
            if (hw1 >> 9) & 3 == 0 {
                if hw1 & 0x40 == 0 {
                    // LDM/STM (.W), PUSH.W/POP.W
                    let n = (hw2 as u32).count_ones().max(1);
                    let load = hw1 & 0x10 != 0;
                    if load && hw2 & 0x8000 != 0 {
                        return Insn::branch(4, 1 + n + P_BASE, true);
                    }
                    return Insn::new(4, 1 + n, Kind::Other);
                }
                // Dual, exclusive, table branch.
                if hw1 & 0xFFF0 == 0xE8D0 && (hw2 & 0xFFE0) == 0xF000 {
                    return Insn::branch(4, 2 + P_BASE, true); // TBB/TBH
                }
                let opx = (hw1 >> 7) & 3;
                if opx == 0 && hw1 & 0x20 == 0 {
                    return Insn::new(4, 2, Kind::Other); // LDREX/STREX
                }
                return Insn::new(4, 3, Kind::Other); // LDRD/STRD
            }
            alu // data processing, shifted register
        }
        0b10 => {
            if hw2 & 0x8000 == 0 {
                return alu; // data processing immediate
            }
            // Branches and miscellaneous control.
            let op = (hw1 >> 4) & 0x7F;
            let op2 = (hw2 >> 12) & 7;
            if op2 & 0b101 == 0b001 || op2 & 0b101 == 0b101 {
                return Insn::branch(4, 1 + P_BASE, false); // B.W, BL
            }
            if op2 & 0b101 == 0 {
                if op & 0x38 != 0x38 {
                    return Insn::cond(4); // conditional B.W
                }
                return Insn::new(4, 1, Kind::Other); // MSR/MRS/hints/barriers
            }
            Insn::new(4, 1, Kind::Other)
        }
        _ => {
            let op2 = (hw1 >> 4) & 0x7F;
            if op2 & 0x40 != 0 {
                return decode_vfp(hw1, hw2);
            }
            if op2 & 0x71 == 0x00 {
                // Store single: register offset when hw2[11:6] == 0.
                if hw1 & 0x0080 == 0 && hw2 & 0x0FC0 == 0 {
                    return Insn::new(4, 2, Kind::StoreReg);
                }
                return Insn::new(4, 1, Kind::StoreImm);
            }
            if op2 & 0x67 == 0x01 || op2 & 0x67 == 0x03 || op2 & 0x67 == 0x05 {
                // Loads; LDR to PC branches.
                if (hw2 >> 12) & 0xF == 0xF && op2 & 0x67 == 0x05 {
                    return Insn::branch(4, 2 + P_BASE, true);
                }
                return Insn::new(4, 2, Kind::Load);
            }
            if op2 & 0x70 == 0x20 {
                return alu; // data processing register
            }
            if op2 & 0x78 == 0x30 {
                return Insn::new(4, 1, Kind::Alu); // multiply, MLA
            }
            if op2 & 0x78 == 0x38 {
                if op2 == 0x39 || op2 == 0x3B {
                    return Insn::new(4, DIV_CYCLES, Kind::Alu);
                }
                return Insn::new(4, 1, Kind::Alu); // long multiply
            }
            Insn {
                unknown: true,
                ..Insn::new(4, 1, Kind::Other)
            }
        }
    }
}

/// What a memory instruction is, for the load/store pipeline rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mem {
    None,
    /// LDR, LDRB, LDRH, LDRSB, LDRSH: one register (PLD included).
    Load,
    /// STR, STRB, STRH with an immediate offset (pre/post-indexed included).
    StoreImm,
    /// STR, STRB, STRH with a register offset.
    StoreReg,
    /// LDM, POP, LDRD, LDREX, VLDR, VLDM, VPOP.
    LoadMulti,
    /// STM, PUSH, STRD, STREX, VSTR, VSTM, VPUSH.
    StoreMulti,
}

/// The registers an instruction reads as an address and writes, as bit masks (bit n =
/// rn), for the pipeline hazards between neighbouring instructions.
#[derive(Debug, Clone, Copy)]
struct Ops {
    mem: Mem,
    /// Base and offset registers of a memory access.
    addr: u16,
    /// Registers written: results, loaded registers, the base written back by a single
    /// load or store. (A multiple or dual transfer writes its base back in its first
    /// cycle, long before the next instruction: not counted.)
    writes: u16,
    /// Of those, the base written back by a single load (available early, in the
    /// load's address phase).
    load_wb: u16,
    /// NOP (16- or 32-bit).
    nop: bool,
}

impl Ops {
    const NONE: Ops = Ops {
        mem: Mem::None,
        addr: 0,
        writes: 0,
        load_wb: 0,
        nop: false,
    };
    fn write(rd: u16) -> Ops {
        Ops {
            writes: bit(rd),
            ..Ops::NONE
        }
    }
    fn mem(mem: Mem, addr: u16, writes: u16) -> Ops {
        Ops {
            mem,
            addr,
            writes,
            ..Ops::NONE
        }
    }
}

fn bit(r: u16) -> u16 {
    1 << (r & 15)
}

/// Operands of a 16-bit Thumb instruction.
fn ops16(hw: u16) -> Ops {
    let lo = |shift: u16| (hw >> shift) & 7;
    match hw >> 11 {
        // Shift by immediate, add/subtract register or 3-bit immediate.
        0b00000..=0b00011 => Ops::write(lo(0)),
        // MOV/CMP/ADD/SUB 8-bit immediate (CMP writes nothing).
        0b00100..=0b00111 => {
            if (hw >> 11) & 3 == 1 {
                Ops::NONE
            } else {
                Ops::write(lo(8))
            }
        }
        0b01000 => {
            if hw & 0xFC00 == 0x4000 {
                // Data processing: TST, CMP, CMN write nothing.
                match (hw >> 6) & 0xF {
                    0x8 | 0xA | 0xB => Ops::NONE,
                    _ => Ops::write(lo(0)),
                }
            } else {
                // Special data processing and branch/exchange.
                let rd = ((hw >> 4) & 8) | (hw & 7);
                match (hw >> 8) & 3 {
                    0 | 2 => Ops::write(rd),
                    3 if hw & 0x80 != 0 => Ops::write(14), // BLX
                    _ => Ops::NONE,
                }
            }
        }
        0b01001 => Ops::mem(Mem::Load, 0, bit(lo(8))), // LDR literal
        0b01010 | 0b01011 => {
            let addr = bit(lo(3)) | bit(lo(6));
            if (hw >> 9) & 7 <= 2 {
                Ops::mem(Mem::StoreReg, addr, 0)
            } else {
                Ops::mem(Mem::Load, addr, bit(lo(0)))
            }
        }
        0b01100..=0b10001 => {
            if hw & 0x0800 != 0 {
                Ops::mem(Mem::Load, bit(lo(3)), bit(lo(0)))
            } else {
                Ops::mem(Mem::StoreImm, bit(lo(3)), 0)
            }
        }
        0b10010 => Ops::mem(Mem::StoreImm, bit(13), 0),
        0b10011 => Ops::mem(Mem::Load, bit(13), bit(lo(8))),
        0b10100 | 0b10101 => Ops::write(lo(8)), // ADR, ADD Rd, SP, #imm
        0b10110 | 0b10111 => match (hw >> 8) & 0xF {
            0x0 => Ops::write(13),                              // ADD/SUB SP, SP, #imm
            0x2 | 0xA => Ops::write(lo(0)),                     // extend, REV
            0x4 | 0x5 => Ops::mem(Mem::StoreMulti, bit(13), 0), // PUSH
            0xC | 0xD => Ops::mem(Mem::LoadMulti, bit(13), hw & 0xFF), // POP
            0xF if hw & 0xF == 0 && (hw >> 4) & 0xF == 0 => Ops {
                nop: true,
                ..Ops::NONE
            },
            _ => Ops::NONE,
        },
        0b11000 => Ops::mem(Mem::StoreMulti, bit(lo(8)), 0),
        0b11001 => Ops::mem(Mem::LoadMulti, bit(lo(8)), hw & 0xFF),
        _ => Ops::NONE,
    }
}

/// Operands of a 32-bit Thumb instruction.
fn ops32(hw1: u16, hw2: u16) -> Ops {
    let rn = hw1 & 0xF;
    let rd = (hw2 >> 8) & 0xF;
    let rt = (hw2 >> 12) & 0xF;
    let rm = hw2 & 0xF;
    match (hw1 >> 11) & 3 {
        0b01 => {
            if hw1 & 0x0400 != 0 {
                return vfp_ops(hw1, hw2);
            }
            match (hw1 >> 9) & 3 {
                0 if hw1 & 0x40 == 0 => {
                    // LDM/STM (.W), PUSH.W/POP.W.
                    if hw1 & 0x10 != 0 {
                        Ops::mem(Mem::LoadMulti, bit(rn), hw2 & 0x7FFF)
                    } else {
                        Ops::mem(Mem::StoreMulti, bit(rn), 0)
                    }
                }
                0 => {
                    // Dual, exclusive, table branch.
                    if hw1 & 0xFFF0 == 0xE8D0 && hw2 & 0xFFE0 == 0xF000 {
                        return Ops::NONE; // TBB/TBH
                    }
                    let load = hw1 & 0x10 != 0;
                    if (hw1 >> 7) & 3 == 0 && hw1 & 0x20 == 0 {
                        // LDREX/STREX.
                        return if load {
                            Ops::mem(Mem::LoadMulti, bit(rn), bit(rt))
                        } else {
                            Ops::mem(Mem::StoreMulti, bit(rn), bit(rd))
                        };
                    }
                    if load {
                        Ops::mem(Mem::LoadMulti, bit(rn), bit(rt) | bit(rd))
                    } else {
                        Ops::mem(Mem::StoreMulti, bit(rn), 0)
                    }
                }
                // Data processing (shifted register): TST/TEQ/CMP/CMN write nothing.
                1 if rd == 15 && hw1 & 0x10 != 0 => Ops::NONE,
                1 => Ops::write(rd),
                _ => Ops::NONE,
            }
        }
        0b10 => {
            if hw2 & 0x8000 == 0 {
                // Data processing (immediate): the compares write nothing.
                if rd == 15 && hw1 & 0x10 != 0 {
                    return Ops::NONE;
                }
                return Ops::write(rd);
            }
            let op2 = (hw2 >> 12) & 7;
            if op2 & 0b101 == 0b101 {
                return Ops::write(14); // BL
            }
            if op2 & 0b101 == 0 && (hw1 >> 4) & 0x7E == 0x3E {
                return Ops::write(rd); // MRS
            }
            if hw1 == 0xF3AF && hw2 == 0x8000 {
                return Ops {
                    nop: true,
                    ..Ops::NONE
                }; // NOP.W
            }
            Ops::NONE
        }
        0b11 => {
            let op2 = (hw1 >> 4) & 0x7F;
            if op2 & 0x40 != 0 {
                return vfp_ops(hw1, hw2);
            }
            let single = op2 & 0x71 == 0x00
                || op2 & 0x67 == 0x01
                || op2 & 0x67 == 0x03
                || op2 & 0x67 == 0x05;
            if single {
                let imm12 = hw1 & 0x80 != 0;
                let reg_offset = !imm12 && hw2 & 0x0FC0 == 0;
                // The 8-bit immediate forms with write-back: 1PUW with W set.
                let wb = if !imm12 && hw2 & 0x0900 == 0x0900 && rn != 15 {
                    bit(rn)
                } else {
                    0
                };
                let addr =
                    if rn == 15 { 0 } else { bit(rn) } | if reg_offset { bit(rm) } else { 0 };
                if op2 & 0x71 == 0x00 {
                    let mem = if reg_offset {
                        Mem::StoreReg
                    } else {
                        Mem::StoreImm
                    };
                    return Ops::mem(mem, addr, wb);
                }
                let dest = if rt == 15 { 0 } else { bit(rt) };
                return Ops {
                    load_wb: wb,
                    ..Ops::mem(Mem::Load, addr, dest | wb)
                };
            }
            if op2 & 0x70 == 0x20 || op2 & 0x78 == 0x30 {
                return Ops::write(rd); // data processing register, multiply
            }
            if op2 & 0x78 == 0x38 {
                if op2 == 0x39 || op2 == 0x3B {
                    return Ops::write(rd); // SDIV, UDIV
                }
                return Ops {
                    writes: bit(rt) | bit(rd),
                    ..Ops::NONE
                }; // long multiply
            }
            Ops::NONE
        }
        _ => Ops::NONE,
    }
}

/// Operands of the floating-point instructions that touch core registers or memory.
fn vfp_ops(hw1: u16, hw2: u16) -> Ops {
    let rn = hw1 & 0xF;
    let rt = (hw2 >> 12) & 0xF;
    if (hw1 >> 8) & 0xF == 0xE {
        // VMOV core <- S, VMRS (to APSR when Rt is 15).
        if hw2 & 0x10 != 0 && hw1 & 0x10 != 0 && rt != 15 {
            return Ops::write(rt);
        }
        return Ops::NONE;
    }
    let opcode = (hw1 >> 4) & 0x1F;
    let load = hw1 & 0x10 != 0;
    if opcode & 0b11110 == 0b00100 {
        // VMOV two core registers <-> two S / one D.
        return if load {
            Ops {
                writes: bit(rt) | bit(rn),
                ..Ops::NONE
            }
        } else {
            Ops::NONE
        };
    }
    let addr = if rn == 15 { 0 } else { bit(rn) };
    if load {
        Ops::mem(Mem::LoadMulti, addr, 0)
    } else {
        Ops::mem(Mem::StoreMulti, addr, 0)
    }
}

/// Whether a load/store may reach a peripheral: its base register is neither SP nor PC.
fn may_touch_peripheral(hw1: u16, len: u32) -> bool {
    if len == 2 {
        return match hw1 >> 12 {
            0x5..=0x8 => true, // register/immediate offset, base r0-r7
            0xC => true,       // LDM/STM
            _ => false,
        };
    }
    let rn = hw1 & 0xF;
    let op1 = (hw1 >> 11) & 3;
    let is_mem = match op1 {
        0b01 => (hw1 >> 9) & 3 == 0 || (hw1 & 0x0E00 == 0x0C00), // LDM/STM, dual, VLDR/VSTM
        0b11 => {
            let op2 = (hw1 >> 4) & 0x7F;
            op2 & 0x71 == 0x00
                || op2 & 0x67 == 0x01
                || op2 & 0x67 == 0x03
                || op2 & 0x67 == 0x05
                || (hw1 & 0x0E00 == 0x0C00)
        }
        _ => false,
    };
    is_mem && rn != 13 && rn != 15
}

/// What an instruction costs after the one whose operands are `prev` in the same
/// block: the load/store pipeline rules of the table above.
fn pipeline_cost(pc: u32, insn: &Insn, ops: &Ops, prev: &Ops) -> u32 {
    // The base or offset register was written by the previous instruction: the address
    // is needed a cycle earlier than an ALU operand would be, so the access waits a
    // cycle (after an ALU result, a loaded register, a store's write-back). A base
    // written back by a load is ready in the load's address phase: the access only
    // loses its pipelining.
    let waits = ops.addr & prev.writes & !prev.load_wb != 0;
    let after_load_wb = ops.addr & prev.load_wb != 0;
    // A load of any kind right after an immediate-offset store: the store cannot
    // pipeline with it and takes a cycle more (a register-offset store takes 2 already).
    let after_store = prev.mem == Mem::StoreImm;
    let stall = u32::from(waits || after_store);
    if ops.nop && matches!(prev.mem, Mem::Load | Mem::StoreReg) {
        return 0; // runs in the load's data phase, or the store's second cycle
    }
    match insn.kind {
        Kind::Load => {
            // A 32-bit load at a half-word address does not pipeline.
            let aligned = insn.len == 2 || pc & 2 == 0;
            let pipelined = prev.mem == Mem::Load && aligned && !waits && !after_load_wb;
            let base = if pipelined { 1 } else { insn.cycles };
            base + stall
        }
        _ if ops.mem == Mem::LoadMulti => insn.cycles + stall,
        _ if ops.mem != Mem::None => insn.cycles + u32::from(waits),
        _ => insn.cycles,
    }
}

/// Decodes the Thumb code `bytes` found at `addr` and sums its costs.
pub fn cost_block(addr: u32, bytes: &[u8]) -> BlockCost {
    let mut c = BlockCost {
        first_line: addr & !15,
        ..Default::default()
    };
    let mut off = 0usize;
    let mut prev = Ops::NONE;
    let mut line = addr & !15;
    let mut line_acc: u32 = 0;
    while off + 2 <= bytes.len() {
        let pc = addr + off as u32;
        let hw1 = u16::from_le_bytes([bytes[off], bytes[off + 1]]);
        let (insn, ops) = if is_wide(hw1) {
            if off + 4 > bytes.len() {
                break;
            }
            let hw2 = u16::from_le_bytes([bytes[off + 2], bytes[off + 3]]);
            (decode32(hw1, hw2), ops32(hw1, hw2))
        } else {
            (decode16(hw1), ops16(hw1))
        };
        if off == 0 {
            c.first_wide_unaligned = insn.len == 4 && addr & 2 != 0;
        }
        if may_touch_peripheral(hw1, insn.len) {
            c.mem_offsets.push(c.base);
        }
        let cyc = pipeline_cost(pc, &insn, &ops, &prev);
        prev = ops;
        c.insns += 1;
        if insn.unknown {
            c.unknown += 1;
        }
        c.base += cyc;
        c.taken_extra = if insn.cond_branch { P_BASE } else { 0 };
        c.ends_indirect = insn.indirect;
        // Lines touched.
        if pc & !15 != line {
            c.line_cycles.push(line_acc.min(u16::MAX as u32) as u16);
            line = pc & !15;
            line_acc = 0;
        }
        line_acc += cyc;
        off += insn.len as usize;
    }
    c.line_cycles.push(line_acc.min(u16::MAX as u32) as u16);
    c.fallthrough = addr + off as u32;
    c
}

/// The ART accelerator's instruction side: 64 lines of 128 bits and the prefetch buffer.
#[derive(Debug, Clone)]
pub struct Art {
    /// 16 sets of 4 ways: line addresses (u32::MAX empty), most recent first.
    sets: [[u32; 4]; 16],
    pub latency: u32,
    pub prefetch: bool,
    pub icache: bool,
    last_line: u32,
    last_line_cycles: u32,
    /// Statistics.
    pub hits: u64,
    pub misses: u64,
}

impl Default for Art {
    fn default() -> Self {
        Art {
            sets: [[u32::MAX; 4]; 16],
            latency: 0,
            prefetch: false,
            icache: false,
            last_line: u32::MAX,
            last_line_cycles: 0,
            hits: 0,
            misses: 0,
        }
    }
}

impl Art {
    pub fn flush(&mut self) {
        self.sets = [[u32::MAX; 4]; 16];
    }

    fn lookup_insert(&mut self, line: u32) -> bool {
        let set = &mut self.sets[((line >> 4) & 15) as usize];
        if let Some(i) = set.iter().position(|&l| l == line) {
            set[..=i].rotate_right(1);
            return true;
        }
        set.rotate_right(1);
        set[0] = line;
        false
    }

    /// Wait-state cycles to fetch the lines of a block in flash.
    pub fn fetch_cost(&mut self, first_line: u32, line_cycles: &[u16]) -> u64 {
        if self.latency == 0 {
            return 0;
        }
        let mut extra = 0u64;
        let mut line = first_line;
        for &lc in line_cycles {
            let hit = self.icache && self.lookup_insert(line);
            if hit {
                self.hits += 1;
            } else if line != self.last_line {
                self.misses += 1;
                if self.prefetch && line == self.last_line.wrapping_add(16) {
                    extra += (self.latency + 1).saturating_sub(self.last_line_cycles) as u64;
                } else {
                    extra += self.latency as u64;
                }
            }
            if line == self.last_line {
                self.last_line_cycles += lc as u32;
            } else {
                self.last_line = line;
                self.last_line_cycles = lc as u32;
            }
            line = line.wrapping_add(16);
        }
        extra
    }

    /// A branch or exception broke the sequential stream.
    pub fn discontinuity(&mut self) {
        self.last_line = u32::MAX;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asm16(words: &[u16]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn alu_loads_stores_and_branches() {
        // adds r0, #1; ldr r1, [r2]; ldr r3, [r2, #4]; str r1, [r2]; b .-8
        let code = asm16(&[0x3001, 0x6811, 0x6853, 0x6011, 0xE7FA]);
        let c = cost_block(0x2000_0000, &code);
        assert_eq!(c.insns, 5);
        // 1 + 2 + 1 (pipelined load) + 1 + (1+P)
        assert_eq!(c.base, 1 + 2 + 1 + 1 + 1 + P_BASE);
        assert_eq!(c.fallthrough, 0x2000_000A);
    }

    #[test]
    fn push_pop_and_conditional_branch() {
        // push {r4, r5, lr}; pop {r4, r5, pc}
        let c = cost_block(0x0800_0000, &asm16(&[0xB530, 0xBD30]));
        assert_eq!(c.base, (1 + 3) + (1 + 3 + P_BASE));
        assert!(c.ends_indirect);
        // cmp r0, #0; bne label
        let c = cost_block(0x0800_0000, &asm16(&[0x2800, 0xD1FD]));
        assert_eq!(c.base, 2);
        assert_eq!(c.taken_extra, P_BASE);
    }

    #[test]
    fn fpu_and_divide_costs() {
        // vdiv.f32 s0, s1, s2 = ee80 0a81; vsqrt.f32 s0, s1 = eeb1 0ae0;
        // vadd.f32 s0, s0, s1 = ee30 0a20; vmla.f32 s0, s1, s2 = ee00 0a81; udiv r0, r1, r2 = fbb1 f0f2
        let code = asm16(&[
            0xEE80, 0x0A81, 0xEEB1, 0x0AE0, 0xEE30, 0x0A20, 0xEE00, 0x0A81, 0xFBB1, 0xF0F2,
        ]);
        let c = cost_block(0x0800_0000, &code);
        assert_eq!(c.insns, 5);
        assert_eq!(c.base, 14 + 14 + 1 + 3 + DIV_CYCLES);
    }

    fn regs(list: &[u16]) -> u16 {
        list.iter().fold(0, |m, &r| m | (1 << r))
    }

    #[test]
    fn operands_of_16_bit_instructions() {
        // adds r4, #0; cmp r1, #0
        assert_eq!(ops16(0x3400).writes, regs(&[4]));
        assert_eq!(ops16(0x2900).writes, 0);
        // ldr r0, [r4]; ldr r1, [r4, r5]; str r0, [r4, r5]; ldr r3, [sp, #4]
        let o = ops16(0x6820);
        assert_eq!(
            (o.mem, o.addr, o.writes),
            (Mem::Load, regs(&[4]), regs(&[0]))
        );
        let o = ops16(0x5961);
        assert_eq!(
            (o.mem, o.addr, o.writes),
            (Mem::Load, regs(&[4, 5]), regs(&[1]))
        );
        let o = ops16(0x5160);
        assert_eq!((o.mem, o.addr, o.writes), (Mem::StoreReg, regs(&[4, 5]), 0));
        let o = ops16(0x9B01);
        assert_eq!(
            (o.mem, o.addr, o.writes),
            (Mem::Load, regs(&[13]), regs(&[3]))
        );
        // push {r4, lr}; pop {r4, pc}; ldmia r2!, {r0, r1}
        assert_eq!(ops16(0xB510).mem, Mem::StoreMulti);
        let o = ops16(0xBD10);
        assert_eq!((o.mem, o.writes), (Mem::LoadMulti, regs(&[4])));
        assert_eq!(ops16(0xCA03).writes, regs(&[0, 1]));
        // nop; mov r8, r9; ldr r0, [pc, #4]
        assert!(ops16(0xBF00).nop);
        assert_eq!(ops16(0x46C8).writes, regs(&[8]));
        let o = ops16(0x4801);
        assert_eq!((o.mem, o.addr, o.writes), (Mem::Load, 0, regs(&[0])));
    }

    #[test]
    fn operands_of_32_bit_instructions() {
        // ldr.w r0, [r4], #4 and ldr.w r1, [r4, #-4]!: write-back by a load.
        let o = ops32(0xF854, 0x0B04);
        assert_eq!(
            (o.mem, o.addr, o.writes, o.load_wb),
            (Mem::Load, regs(&[4]), regs(&[0, 4]), regs(&[4]))
        );
        let o = ops32(0xF854, 0x1D04);
        assert_eq!((o.writes, o.load_wb), (regs(&[1, 4]), regs(&[4])));
        // str.w r0, [r4], #4; ldr.w r0, [r4, #8]; str.w r0, [r4, r5, lsl #2]
        let o = ops32(0xF844, 0x0B04);
        assert_eq!((o.mem, o.writes, o.load_wb), (Mem::StoreImm, regs(&[4]), 0));
        let o = ops32(0xF8D4, 0x0008);
        assert_eq!(
            (o.mem, o.addr, o.writes),
            (Mem::Load, regs(&[4]), regs(&[0]))
        );
        let o = ops32(0xF844, 0x0025);
        assert_eq!((o.mem, o.addr), (Mem::StoreReg, regs(&[4, 5])));
        // ldmia.w r6, {r0, r1}; ldrd r2, r3, [r4, #8]!
        let o = ops32(0xE896, 0x0003);
        assert_eq!(
            (o.mem, o.addr, o.writes),
            (Mem::LoadMulti, regs(&[6]), regs(&[0, 1]))
        );
        let o = ops32(0xE9F4, 0x2302);
        assert_eq!((o.mem, o.writes), (Mem::LoadMulti, regs(&[2, 3])));
        // add.w r8, r9, sl; movw r2, #8996; cmp.w r3, #100; mul r5, r6, r7
        assert_eq!(ops32(0xEB09, 0x080A).writes, regs(&[8]));
        assert_eq!(ops32(0xF242, 0x3224).writes, regs(&[2]));
        assert_eq!(ops32(0xF1B3, 0x0F64).writes, 0);
        assert_eq!(ops32(0xFB06, 0xF507).writes, regs(&[5]));
        // umull r0, r1, r2, r3; udiv r5, r6, r7; bl; nop.w; mrs r0, ipsr
        assert_eq!(ops32(0xFBA2, 0x0103).writes, regs(&[0, 1]));
        assert_eq!(ops32(0xFBB6, 0xF5F7).writes, regs(&[5]));
        assert_eq!(ops32(0xF000, 0xF800).writes, regs(&[14]));
        assert!(ops32(0xF3AF, 0x8000).nop);
        assert_eq!(ops32(0xF3EF, 0x8005).writes, regs(&[0]));
        // vmov r2, s3; vldr s0, [r4, #4]; vpush {s16-s17}
        assert_eq!(ops32(0xEE11, 0x2A90).writes, regs(&[2]));
        let o = ops32(0xED94, 0x0A01);
        assert_eq!((o.mem, o.addr), (Mem::LoadMulti, regs(&[4])));
        let o = ops32(0xED2D, 0x8A02);
        assert_eq!((o.mem, o.addr, o.writes), (Mem::StoreMulti, regs(&[13]), 0));
    }

    #[test]
    fn art_misses_then_hits() {
        let mut art = Art {
            latency: 5,
            prefetch: true,
            icache: true,
            ..Default::default()
        };
        // Cold: non-sequential miss costs the latency, the sequential one is hidden in part.
        assert_eq!(art.fetch_cost(0x0800_0000, &[4, 4]), 5 + 2);
        art.discontinuity();
        assert_eq!(art.fetch_cost(0x0800_0000, &[4, 4]), 0);
        assert_eq!(art.hits, 2);
    }
}
