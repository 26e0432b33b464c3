//! TIM1-14: advanced (TIM1, TIM8), general-purpose (TIM2-5, TIM9-14) and basic (TIM6,
//! TIM7) timers (RM0090 §14-§18; registers §14.4, §15.4, §16.4, §17.4).
//!
//! Modelled:
//! - Time base: the counter is computed from virtual time through the timer clock of
//!   the instance (`Clocks::tim_apb1` or `tim_apb2`), the active prescaler and the
//!   active auto-reload value, never ticked. PSC is buffered (loaded at the update
//!   event), ARR is preloaded when ARPE = 1, CCRx when OCxPE = 1, RCR at each update.
//!   ARR = 0 blocks the counter. 16-bit counters except TIM2/TIM5 (32-bit).
//! - Counting modes: up, down (DIR), centre-aligned 1/2/3 (CMS; DIR then reads the
//!   direction). Update event on overflow/underflow, gated by the repetition counter
//!   (TIM1/TIM8), UDIS and URS; UG re-initialises the counter and prescaler.
//! - One-pulse mode: CEN cleared at the next update event.
//! - Output compare channels (CCxS = 00): CCxIF on match (in centre-aligned modes only
//!   in the directions CMS selects), OCxREF for frozen, active/inactive on match,
//!   toggle, force inactive/active and PWM modes 1 and 2; the pin level (CCxP, and for
//!   TIM1/TIM8 the complementary output with CCxNE/CCxNP, gated by BDTR.MOE) is pushed
//!   as [`Effect::AfOutput`] with [`AfSignal::TimCh`] whenever it changes.
//! - EGR: UG, CCxG, COMG, TG, BG set their flags; SR flags are rc_w0.
//! - Interrupts: update, capture/compare, break and trigger/COM on the instance's
//!   vectors (shared vectors such as TIM1_UP_TIM10 are driven by both timers; the
//!   machine ORs the sources of a line).
//! - Master mode trigger output (CR2.MMS) for reset (000: EGR.UG), enable (001: CEN
//!   set) and update (010: every update event): pushed as [`Effect::TimerTrgo`] with
//!   the exact cycle of the pulse. With MMS = 010 the timer schedules an event at every
//!   update (the DAC and ADC count on each one); otherwise the timing is unchanged.
//! - Exactly one event is scheduled, for the next edge that matters (an update or match
//!   whose flag is enabled and clear, or an edge of an enabled output); when nothing
//!   observable can happen the counter runs in closed form.
//!
//! - Input capture (CCxS = 01: ICx from TIx, 10: from the neighbour input, TI2 for
//!   IC1, TI1 for IC2, TI4 for IC3, TI3 for IC4): with CCxE set, a pin edge of the
//!   polarity CCxP/CCxNP selects (rising, falling or both) counted through the input
//!   prescaler ICxPSC (1, 2, 4, 8 events) latches the counter into CCRx and sets CCxIF;
//!   a capture while CCxIF is still set sets CCxOF. Reading CCRx clears CCxIF. The
//!   machine reports the edges of the channel pins with [`Timer::input_edge`].
//!
//! Not modelled:
//! - Input capture from TRC (CCxS = 11), the input filters (ICxF: edges are taken as
//!   they come), encoder and slave modes (SMCR), external clock and trigger inputs,
//!   TRGO from compare pulses and OCxREF (MMS = 011-111, warned once), DMA requests
//!   and burst access (DCR/DMAR stored), dead time, break input and lock (BDTR other
//!   than MOE stored), OCxCE/ETR clearing, fast enable, input remapping (OR). These
//!   fields are stored and warn once when changed.
//! - The one-clock delay between CEN and the counter enable; a CNT write does not
//!   reset the prescaler counter but restarts its phase.
//! - TIM9-14 answer for channels they do not have (stored, never matched).

use crate::device::{AfSignal, BusError, Clocks, Ctx, Device, Effect, Size};
use crate::regs::{f, unimplemented, unmodelled, Access::*, Block, Field, Reg};

const T: &str = "periph::tim";

pub const CR1: u32 = 0x00;
pub const CR2: u32 = 0x04;
pub const SMCR: u32 = 0x08;
pub const DIER: u32 = 0x0C;
pub const SR: u32 = 0x10;
pub const EGR: u32 = 0x14;
pub const CCMR1: u32 = 0x18;
pub const CCMR2: u32 = 0x1C;
pub const CCER: u32 = 0x20;
pub const CNT: u32 = 0x24;
pub const PSC: u32 = 0x28;
pub const ARR: u32 = 0x2C;
pub const RCR: u32 = 0x30;
pub const CCR1: u32 = 0x34;
pub const CCR2: u32 = 0x38;
pub const BDTR: u32 = 0x44;
pub const DCR: u32 = 0x48;
pub const DMAR: u32 = 0x4C;
pub const OR: u32 = 0x50;

// CR1
pub const CEN: u32 = 1 << 0;
pub const UDIS: u32 = 1 << 1;
pub const URS: u32 = 1 << 2;
pub const OPM: u32 = 1 << 3;
pub const DIR: u32 = 1 << 4;
pub const ARPE: u32 = 1 << 7;
// SR / DIER
pub const UIF: u32 = 1 << 0;
pub const COMIF: u32 = 1 << 5;
pub const TIF: u32 = 1 << 6;
pub const BIF: u32 = 1 << 7;
/// CCxIF / CCxIE for channel index 0-3.
pub const fn ccif(ch: usize) -> u32 {
    1 << (1 + ch)
}
// EGR
pub const UG: u32 = 1 << 0;
pub const MOE: u32 = 1 << 15;

const CR1_F: &[Field] = &[
    f("CEN", 0, 1, Rw),
    f("UDIS", 1, 1, Rw),
    f("URS", 2, 1, Rw),
    f("OPM", 3, 1, Rw),
    f("DIR", 4, 1, Rw),
    f("CMS", 5, 2, Rw),
    f("ARPE", 7, 1, Rw),
    unmodelled("CKD", 8, 2, Rw),
];
const CR2_F: &[Field] = &[
    unmodelled("CCPC", 0, 1, Rw),
    unmodelled("CCUS", 2, 1, Rw),
    unmodelled("CCDS", 3, 1, Rw),
    f("MMS", 4, 3, Rw),
    unmodelled("TI1S", 7, 1, Rw),
    unmodelled("OISx", 8, 7, Rw),
];
const SMCR_F: &[Field] = &[
    unmodelled("SMS", 0, 3, Rw),
    unmodelled("TS", 4, 3, Rw),
    unmodelled("MSM", 7, 1, Rw),
    unmodelled("ETF", 8, 4, Rw),
    unmodelled("ETPS", 12, 2, Rw),
    unmodelled("ECE", 14, 1, Rw),
    unmodelled("ETP", 15, 1, Rw),
];
const DIER_F: &[Field] = &[
    f("UIE", 0, 1, Rw),
    f("CCxIE", 1, 4, Rw),
    f("COMIE", 5, 1, Rw),
    f("TIE", 6, 1, Rw),
    f("BIE", 7, 1, Rw),
    unmodelled("UDE", 8, 1, Rw),
    unmodelled("CCxDE", 9, 4, Rw),
    unmodelled("COMDE", 13, 1, Rw),
    unmodelled("TDE", 14, 1, Rw),
];
const SR_F: &[Field] = &[
    f("UIF", 0, 1, Rc0),
    f("CCxIF", 1, 4, Rc0),
    f("COMIF", 5, 1, Rc0),
    f("TIF", 6, 1, Rc0),
    f("BIF", 7, 1, Rc0),
    f("CCxOF", 9, 4, Rc0),
];
const EGR_F: &[Field] = &[
    f("UG", 0, 1, W),
    f("CCxG", 1, 4, W),
    f("COMG", 5, 1, W),
    f("TG", 6, 1, W),
    f("BG", 7, 1, W),
];
const CCMR_F: &[Field] = &[
    f("CC1S", 0, 2, Rw),
    unmodelled("OC1FE", 2, 1, Rw),
    f("OC1PE", 3, 1, Rw),
    f("OC1M", 4, 3, Rw),
    unmodelled("OC1CE", 7, 1, Rw),
    f("CC2S", 8, 2, Rw),
    unmodelled("OC2FE", 10, 1, Rw),
    f("OC2PE", 11, 1, Rw),
    f("OC2M", 12, 3, Rw),
    unmodelled("OC2CE", 15, 1, Rw),
];
const CCER_F: &[Field] = &[f("CCxE/P/NE/NP", 0, 16, Rw)];
const CNT_F: &[Field] = &[f("CNT", 0, 32, Rw)];
const PSC_F: &[Field] = &[f("PSC", 0, 16, Rw)];
const ARR_F: &[Field] = &[f("ARR", 0, 32, Rw)];
const RCR_F: &[Field] = &[f("REP", 0, 8, Rw)];
const CCR_F: &[Field] = &[f("CCR", 0, 32, Rw)];
const BDTR_F: &[Field] = &[
    unmodelled("DTG", 0, 8, Rw),
    unmodelled("LOCK", 8, 2, Rw),
    unmodelled("OSSI", 10, 1, Rw),
    unmodelled("OSSR", 11, 1, Rw),
    unmodelled("BKE", 12, 1, Rw),
    unmodelled("BKP", 13, 1, Rw),
    unmodelled("AOE", 14, 1, Rw),
    f("MOE", 15, 1, Rw),
];
const DCR_F: &[Field] = &[unmodelled("DBA", 0, 5, Rw), unmodelled("DBL", 8, 5, Rw)];
const DMAR_F: &[Field] = &[unmodelled("DMAB", 0, 16, Rw)];
const OR_F: &[Field] = &[unmodelled("RMP", 0, 12, Rw)];

const fn r(offset: u32, name: &'static str, fields: &'static [Field]) -> Reg {
    Reg {
        offset,
        name,
        reset: 0,
        fields,
    }
}

/// TIM1/TIM8 (RM0090 §14.4.21).
pub const REGS_ADVANCED: &[Reg] = &[
    r(CR1, "CR1", CR1_F),
    r(CR2, "CR2", CR2_F),
    r(SMCR, "SMCR", SMCR_F),
    r(DIER, "DIER", DIER_F),
    r(SR, "SR", SR_F),
    r(EGR, "EGR", EGR_F),
    r(CCMR1, "CCMR1", CCMR_F),
    r(CCMR2, "CCMR2", CCMR_F),
    r(CCER, "CCER", CCER_F),
    r(CNT, "CNT", CNT_F),
    r(PSC, "PSC", PSC_F),
    r(ARR, "ARR", ARR_F),
    r(RCR, "RCR", RCR_F),
    r(0x34, "CCR1", CCR_F),
    r(0x38, "CCR2", CCR_F),
    r(0x3C, "CCR3", CCR_F),
    r(0x40, "CCR4", CCR_F),
    r(BDTR, "BDTR", BDTR_F),
    r(DCR, "DCR", DCR_F),
    r(DMAR, "DMAR", DMAR_F),
];

/// TIM2-5 and TIM9-14 (RM0090 §15.4.21, §16.4).
pub const REGS_GENERAL: &[Reg] = &[
    r(CR1, "CR1", CR1_F),
    r(CR2, "CR2", CR2_F),
    r(SMCR, "SMCR", SMCR_F),
    r(DIER, "DIER", DIER_F),
    r(SR, "SR", SR_F),
    r(EGR, "EGR", EGR_F),
    r(CCMR1, "CCMR1", CCMR_F),
    r(CCMR2, "CCMR2", CCMR_F),
    r(CCER, "CCER", CCER_F),
    r(CNT, "CNT", CNT_F),
    r(PSC, "PSC", PSC_F),
    r(ARR, "ARR", ARR_F),
    r(0x34, "CCR1", CCR_F),
    r(0x38, "CCR2", CCR_F),
    r(0x3C, "CCR3", CCR_F),
    r(0x40, "CCR4", CCR_F),
    r(DCR, "DCR", DCR_F),
    r(DMAR, "DMAR", DMAR_F),
    r(OR, "OR", OR_F),
];

/// TIM6/TIM7 (RM0090 §17.4.9).
pub const REGS_BASIC: &[Reg] = &[
    r(CR1, "CR1", CR1_F),
    r(CR2, "CR2", CR2_F),
    r(DIER, "DIER", DIER_F),
    r(SR, "SR", SR_F),
    r(EGR, "EGR", EGR_F),
    r(CNT, "CNT", CNT_F),
    r(PSC, "PSC", PSC_F),
    r(ARR, "ARR", ARR_F),
];

/// What one timer instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerInfo {
    pub n: u8,
    pub name: &'static str,
    /// Output compare channels (0 for the basic timers).
    pub channels: u8,
    pub bits32: bool,
    /// Repetition counter, complementary outputs and MOE (TIM1/TIM8).
    pub advanced: bool,
    /// Only counts up (TIM6/7, TIM9-14).
    pub up_only: bool,
    pub apb2: bool,
    /// NVIC lines of the update, capture/compare, break and trigger/COM interrupts.
    pub irq_up: u16,
    pub irq_cc: u16,
    pub irq_brk: u16,
    pub irq_trg_com: u16,
}

/// The RM0090 facts of TIMn (1-14); `None` for a timer the STM32F405 lacks.
pub fn instance(n: u8) -> Option<TimerInfo> {
    const NAMES: [&str; 14] = [
        "TIM1", "TIM2", "TIM3", "TIM4", "TIM5", "TIM6", "TIM7", "TIM8", "TIM9", "TIM10", "TIM11",
        "TIM12", "TIM13", "TIM14",
    ];
    if !(1..=14).contains(&n) {
        return None;
    }
    let one = |irq: u16| (irq, irq, irq, irq);
    let (up, cc, brk, trg) = match n {
        1 => (25, 27, 24, 26),
        8 => (44, 46, 43, 45),
        2 => one(28),
        3 => one(29),
        4 => one(30),
        5 => one(50),
        6 => one(54),
        7 => one(55),
        9 => one(24),
        10 => one(25),
        11 => one(26),
        12 => one(43),
        13 => one(44),
        _ => one(45),
    };
    Some(TimerInfo {
        n,
        name: NAMES[n as usize - 1],
        channels: match n {
            6 | 7 => 0,
            9 | 12 => 2,
            10 | 11 | 13 | 14 => 1,
            _ => 4,
        },
        bits32: n == 2 || n == 5,
        advanced: n == 1 || n == 8,
        up_only: matches!(n, 6 | 7 | 9..=14),
        apb2: matches!(n, 1 | 8 | 9 | 10 | 11),
        irq_up: up,
        irq_cc: cc,
        irq_brk: brk,
        irq_trg_com: trg,
    })
}

pub struct Timer {
    info: TimerInfo,
    regs: Block,
    /// The clock tree the counter state is expressed in.
    clk: Clocks,
    running: bool,
    /// Counter state at `t0`, a prescaler step boundary.
    cnt: u32,
    /// Counting down (centre-aligned modes; edge modes use CR1.DIR).
    down: bool,
    t0: u64,
    // Active (shadow) registers.
    psc: u32,
    arr: u32,
    ccr: [u32; 4],
    rep: u32,
    oc_ref: [bool; 4],
    /// Last pushed pin levels: channel outputs then complementary outputs.
    pins: [Option<bool>; 8],
    /// Current level of each distinct NVIC line.
    irq_levels: Vec<(u16, bool)>,
    warned_ic: bool,
    /// Input-capture prescaler counts of each channel.
    ic_events: [u8; 4],
    warned_mms: bool,
    /// TRGO pulses not yet pushed, by cycle.
    trgo: Vec<u64>,
}

const TOKEN: u32 = 0;

impl Timer {
    /// TIMn (1-14), with the vectors, bus and width of RM0090.
    ///
    /// # Panics
    /// If there is no TIMn; [`Timer::try_new`] says so with an error instead.
    pub fn new(n: u8) -> Timer {
        Timer::try_new(n).unwrap_or_else(|e| panic!("{e}"))
    }

    /// TIMn, or an error for a timer the STM32F405 lacks (TIM0, TIM15, ...).
    pub fn try_new(n: u8) -> Result<Timer, crate::NoSuchInstance> {
        let info = instance(n).ok_or(crate::NoSuchInstance {
            name: "TIM",
            n,
            has: "TIM1-TIM14",
        })?;
        let table = if info.advanced {
            REGS_ADVANCED
        } else if info.channels == 0 {
            REGS_BASIC
        } else {
            REGS_GENERAL
        };
        let mut irq_levels: Vec<(u16, bool)> = Vec::new();
        for irq in [info.irq_up, info.irq_cc, info.irq_brk, info.irq_trg_com] {
            if !irq_levels.iter().any(|l| l.0 == irq) {
                irq_levels.push((irq, false));
            }
        }
        Ok(Timer {
            info,
            regs: Block::new(info.name, table),
            clk: Clocks::RESET,
            running: false,
            cnt: 0,
            down: false,
            t0: 0,
            psc: 0,
            arr: 0,
            ccr: [0; 4],
            rep: 0,
            oc_ref: [false; 4],
            pins: [None; 8],
            irq_levels,
            warned_ic: false,
            ic_events: [0; 4],
            warned_mms: false,
            trgo: Vec::new(),
        })
    }

    /// An edge (`rising` or falling) on timer input TIx (`input` 0-3 for TI1-TI4, the
    /// channel pins): captures on every input-capture channel mapped on that input.
    pub fn input_edge(&mut self, ctx: &mut Ctx, input: usize, rising: bool) {
        let mut captured = false;
        for ch in 0..(self.info.channels as usize).min(4) {
            let src = match self.ccmr(ch) & 3 {
                1 => ch,
                2 => ch ^ 1,
                _ => continue,
            };
            let ccer = self.regs.get_or(CCER) >> (4 * ch);
            if src != input || ccer & 1 == 0 {
                continue;
            }
            // CCxNP:CCxP = 00 rising, 01 falling, 11 both edges (10 reserved: rising).
            let edge_ok = match (ccer >> 3 & 1, ccer >> 1 & 1) {
                (1, 1) => true,
                (_, 1) => !rising,
                _ => rising,
            };
            if !edge_ok {
                continue;
            }
            let every = 1u8 << ((self.ccmr(ch) >> 2) & 3);
            self.ic_events[ch] += 1;
            if self.ic_events[ch] < every {
                continue;
            }
            self.ic_events[ch] = 0;
            if !captured {
                self.sync(ctx);
                captured = true;
            }
            let v = self.cnt;
            self.ccr[ch] = v;
            self.regs.set(CCR1 + 4 * ch as u32, v);
            let mut sr = self.regs.get(SR);
            if sr & ccif(ch) != 0 {
                sr |= 1 << (9 + ch);
            }
            sr |= ccif(ch);
            self.regs.set(SR, sr);
            tracing::trace!(target: T, t = ctx.now, dev = self.info.name, ch = ch + 1, val = v, "capture");
        }
        if captured {
            self.settle(ctx);
        }
    }

    /// Channel `ch` is an input-capture channel (CCxS != 00).
    fn is_ic(&self, ch: usize) -> bool {
        ch < self.info.channels as usize && self.ccmr(ch) & 3 != 0
    }

    pub fn info(&self) -> &TimerInfo {
        &self.info
    }

    fn max(&self) -> u32 {
        if self.info.bits32 {
            u32::MAX
        } else {
            0xFFFF
        }
    }

    fn ftim(&self) -> u32 {
        if self.info.apb2 {
            self.clk.tim_apb2
        } else {
            self.clk.tim_apb1
        }
    }

    fn cr1(&self) -> u32 {
        self.regs.get(CR1)
    }

    /// Master mode selection (CR2.MMS); the basic and general-purpose timers all have it
    /// except TIM9-14, whose CR2 has no MMS.
    fn mms(&self) -> u32 {
        (self.regs.get_or(CR2) >> 4) & 7
    }

    /// TRGO pulses at every update event (MMS = 010).
    fn trgo_on_update(&self) -> bool {
        self.mms() == 2
    }

    fn push_trgo(&mut self, ctx: &mut Ctx) {
        for at in self.trgo.drain(..) {
            ctx.push(Effect::TimerTrgo {
                tim: self.info.n,
                at,
            });
        }
    }

    fn cms(&self) -> u32 {
        if self.info.up_only {
            0
        } else {
            (self.cr1() >> 5) & 3
        }
    }

    fn edge_down(&self) -> bool {
        !self.info.up_only && self.cms() == 0 && self.cr1() & DIR != 0
    }

    /// Counting direction now.
    fn is_down(&self) -> bool {
        if self.cms() == 0 {
            self.edge_down()
        } else {
            self.down
        }
    }

    fn counting(&self) -> bool {
        self.running && self.arr != 0 && self.ftim() != 0
    }

    fn cycles(&self, steps: u64) -> u64 {
        self.clk
            .to_cycles(steps.saturating_mul(self.psc as u64 + 1), self.ftim())
    }

    fn steps_elapsed(&self, now: u64) -> u64 {
        self.clk.to_ticks(now.saturating_sub(self.t0), self.ftim()) / (self.psc as u64 + 1)
    }

    /// Steps to the next overflow/underflow.
    fn steps_to_boundary(&self) -> u64 {
        let (c, a) = (self.cnt as u64, self.arr as u64);
        match (self.cms(), self.is_down()) {
            (0, false) => (if c <= a { a } else { self.max() as u64 }) - c + 1,
            (0, true) => c + 1,
            (_, false) => a.saturating_sub(c).max(1),
            (_, true) => c.max(1),
        }
    }

    /// Steps until the counter next arrives at `v`, with the direction of arrival.
    fn steps_to_value(&self, v: u32) -> Option<(u64, bool)> {
        let (c, a, v) = (self.cnt as u64, self.arr as u64, v as u64);
        match (self.cms(), self.is_down()) {
            (0, false) => {
                let limit = if c <= a { a } else { self.max() as u64 };
                if v > c && v <= limit {
                    Some((v - c, false))
                } else if v <= a {
                    Some((limit - c + 1 + v, false))
                } else {
                    None
                }
            }
            (0, true) => {
                if v < c {
                    Some((c - v, true))
                } else if v <= a {
                    Some((c + 1 + (a - v), true))
                } else {
                    None
                }
            }
            (_, false) if c > a => {
                // Above ARR (CNT written there, or ARR lowered without preload): the next
                // step reaches ARR and turns down, as in `steps_to_boundary`.
                if v == a {
                    Some((1, false))
                } else if v < a {
                    Some((1 + (a - v), true))
                } else {
                    None
                }
            }
            (_, false) => {
                if v > c && v <= a {
                    Some((v - c, false))
                } else if v < a {
                    Some(((a - c) + (a - v), true))
                } else if v == a {
                    Some(((a - c) + 2 * a, false))
                } else {
                    None
                }
            }
            (_, true) => {
                if v < c {
                    Some((c - v, true))
                } else if v > 0 && v <= a {
                    Some((c + v, false))
                } else if v == 0 {
                    Some((c + 2 * a, true))
                } else {
                    None
                }
            }
        }
    }

    fn ccmr(&self, ch: usize) -> u32 {
        let reg = if ch < 2 { CCMR1 } else { CCMR2 };
        (self.regs.get_or(reg) >> (8 * (ch % 2))) & 0xFF
    }

    /// Channel `ch` is an output compare channel (CCxS = 00).
    fn is_oc(&self, ch: usize) -> bool {
        ch < self.info.channels as usize && self.ccmr(ch) & 3 == 0
    }

    fn ocm(&self, ch: usize) -> u32 {
        (self.ccmr(ch) >> 4) & 7
    }

    /// Whether channel `ch`'s pins are enabled (CCxE / CCxNE, and MOE on TIM1/8).
    fn outputs_enabled(&self, ch: usize) -> (bool, bool) {
        let ccer = self.regs.get_or(CCER) >> (4 * ch);
        let moe = !self.info.advanced || self.regs.get_or(BDTR) & MOE != 0;
        if self.is_ic(ch) {
            // An input channel: CCxE enables the capture, the pin is an input.
            return (false, false);
        }
        (
            moe && ccer & 1 != 0,
            moe && self.info.advanced && ccer & 4 != 0,
        )
    }

    /// An enabled output whose level changes with the counter.
    fn output_active(&self, ch: usize) -> bool {
        let (p, n) = self.outputs_enabled(ch);
        self.is_oc(ch) && (p || n) && matches!(self.ocm(ch), 1 | 2 | 3 | 6 | 7)
    }

    fn flag_direction_ok(&self, down: bool) -> bool {
        match self.cms() {
            0 | 3 => true,
            1 => down,
            _ => !down,
        }
    }

    /// Whether CCxIF of `ch` can still be set by counting.
    fn flaggable(&self, ch: usize) -> bool {
        let v = self.ccr[ch];
        if !self.is_oc(ch) || v > self.arr {
            return false;
        }
        if self.cms() == 0 {
            return true;
        }
        let up = v != 0 && self.flag_direction_ok(false);
        let down = v != self.arr && self.flag_direction_ok(true);
        up || down
    }

    /// Steps to the next point where something happens: an overflow/underflow or the
    /// arrival at a compare value. With `needed`, only points that change an IRQ line
    /// or an output.
    fn next_point(&self, needed: bool) -> Option<u64> {
        let sr = self.regs.get(SR);
        let dier = self.regs.get(DIER);
        let any_output = (0..4).any(|ch| self.output_active(ch));
        let want_boundary = !needed
            || any_output
            || (self.trgo_on_update() && self.cr1() & UDIS == 0)
            || (dier & UIF != 0 && sr & UIF == 0 && self.cr1() & UDIS == 0);
        let mut best = if want_boundary {
            Some(self.steps_to_boundary())
        } else {
            None
        };
        for ch in 0..self.info.channels as usize {
            if !self.is_oc(ch) {
                continue;
            }
            let irq_wanted = dier & ccif(ch) != 0 && sr & ccif(ch) == 0 && self.flaggable(ch);
            if needed && !irq_wanted && !self.output_active(ch) {
                continue;
            }
            if let Some((k, _)) = self.steps_to_value(self.ccr[ch]) {
                best = Some(best.map_or(k, |b| b.min(k)));
            }
        }
        best
    }

    /// Nothing observable changes while counting on: jump in closed form.
    fn quiescent(&self) -> bool {
        let sr = self.regs.get(SR);
        let cr1 = self.cr1();
        // With UDIS no update event happens: no one-pulse stop, no TRGO, no preload.
        let uev = cr1 & UDIS == 0;
        if self.cnt > self.arr || (uev && (cr1 & OPM != 0 || self.trgo_on_update())) {
            return false;
        }
        if uev && (self.psc != self.regs.get(PSC) || self.arr != self.regs.get(ARR)) {
            return false;
        }
        if sr & UIF == 0 && uev {
            return false;
        }
        for ch in 0..self.info.channels as usize {
            if uev && self.ccr[ch] != self.regs.get(CCR1 + 4 * ch as u32) {
                return false;
            }
            if self.output_active(ch) || (sr & ccif(ch) == 0 && self.flaggable(ch)) {
                return false;
            }
        }
        true
    }

    /// Advances `s` steps in closed form (only when quiescent).
    fn advance_closed(&mut self, s: u64) {
        let a = self.arr as u64;
        let c = self.cnt as u64;
        let crossings;
        match (self.cms(), self.is_down()) {
            (0, down) => {
                let p_len = a + 1;
                let pos = if down { a - c } else { c } + s;
                crossings = pos / p_len;
                let q = pos % p_len;
                self.cnt = if down { a - q } else { q } as u32;
            }
            (_, down) => {
                let p_len = 2 * a;
                let p = if down { 2 * a - c } else { c };
                let p2 = p + s;
                let hits = |r: u64| (p2 + p_len - r) / p_len - (p + p_len - r) / p_len;
                crossings = hits(a) + hits(p_len);
                let q = p2 % p_len;
                if q < a {
                    self.cnt = q as u32;
                    self.down = false;
                } else {
                    self.cnt = (2 * a - q) as u32;
                    self.down = true;
                }
            }
        }
        // Repetition counter: a UEV every RCR + 1 crossings. Without UEVs (UDIS) it
        // counts down to 0 and stays there, as `step_to_point` does.
        let rcr = self.rcr() as u64;
        let rep = self.rep as u64;
        if self.cr1() & UDIS != 0 {
            self.rep = rep.saturating_sub(crossings) as u32;
        } else if crossings > rep {
            let after_first = crossings - rep - 1;
            self.rep = (rcr - after_first % (rcr + 1)) as u32;
        } else {
            self.rep = (rep - crossings) as u32;
        }
    }

    fn rcr(&self) -> u32 {
        if self.info.advanced {
            self.regs.get(RCR) & 0xFF
        } else {
            0
        }
    }

    /// Moves `k` steps without reaching the next overflow/underflow.
    fn move_within(&mut self, k: u64) {
        let k = k as u32;
        if self.is_down() {
            self.cnt -= k;
        } else {
            self.cnt = self.cnt.wrapping_add(k);
        }
    }

    /// The update event (`ug`: generated by software through EGR.UG).
    fn uev(&mut self, ug: bool) {
        let cr1 = self.cr1();
        if cr1 & UDIS != 0 {
            return;
        }
        self.psc = self.regs.get(PSC) & 0xFFFF;
        self.arr = self.regs.get(ARR) & self.max();
        for ch in 0..4 {
            self.ccr[ch] = self.regs.get_or(CCR1 + 4 * ch as u32) & self.max();
        }
        self.rep = self.rcr();
        if !(ug && cr1 & URS != 0) {
            self.regs.set_bits(SR, UIF, true);
        }
        if self.trgo_on_update() {
            // `t0` is the cycle of this update (moved there before the step).
            self.trgo.push(self.t0);
        }
        if !ug && cr1 & OPM != 0 {
            self.running = false;
            self.regs.set_bits(CR1, CEN, false);
        }
    }

    /// Advances `k` steps to the next point and applies what happens there.
    fn step_to_point(&mut self, k: u64) {
        let to_boundary = self.steps_to_boundary();
        let arrive_down;
        if k >= to_boundary {
            match (self.cms(), self.is_down()) {
                (0, false) => {
                    self.cnt = 0;
                    arrive_down = false;
                }
                (0, true) => {
                    self.cnt = 0;
                    arrive_down = true;
                }
                (_, false) => {
                    self.cnt = self.arr;
                    self.down = true;
                    arrive_down = false;
                }
                (_, true) => {
                    self.cnt = 0;
                    self.down = false;
                    arrive_down = true;
                }
            }
            if self.rep == 0 {
                self.uev(false);
            } else {
                self.rep -= 1;
            }
            if self.cms() == 0 && arrive_down {
                // Downcounting reloads from the (possibly new) auto-reload value.
                self.cnt = self.arr;
            }
        } else {
            arrive_down = self.is_down();
            self.move_within(k);
        }
        self.matches(arrive_down);
    }

    /// Compare matches at the current counter value.
    fn matches(&mut self, arrive_down: bool) {
        for ch in 0..self.info.channels as usize {
            if !self.is_oc(ch) || self.cnt != self.ccr[ch] {
                continue;
            }
            if self.flag_direction_ok(arrive_down) {
                self.regs.set_bits(SR, ccif(ch), true);
            }
            match self.ocm(ch) {
                1 => self.oc_ref[ch] = true,
                2 => self.oc_ref[ch] = false,
                3 => self.oc_ref[ch] = !self.oc_ref[ch],
                _ => {}
            }
        }
    }

    /// Brings the counter state up to `ctx.now`.
    fn sync(&mut self, ctx: &mut Ctx) {
        if !self.counting() {
            self.t0 = ctx.now;
            return;
        }
        let mut guard = 0u32;
        loop {
            let remaining = self.steps_elapsed(ctx.now);
            if remaining == 0 {
                break;
            }
            if self.quiescent() {
                self.advance_closed(remaining);
                self.t0 += self.cycles(remaining);
                break;
            }
            let k = self.next_point(false).unwrap_or(u64::MAX);
            if k > remaining {
                self.move_within(remaining);
                self.t0 += self.cycles(remaining);
                break;
            }
            self.t0 += self.cycles(k);
            self.step_to_point(k);
            self.update_refs();
            if !self.counting() {
                self.t0 = ctx.now;
                break;
            }
            guard += 1;
            if guard == 1_000_000 {
                unimplemented(
                    self.info.name,
                    ctx.now,
                    "timer catch-up took a million points",
                );
            }
        }
    }

    /// OCxREF of the modes that follow the counter state (force, PWM).
    fn update_refs(&mut self) {
        let down = self.is_down();
        for ch in 0..self.info.channels as usize {
            if !self.is_oc(ch) {
                continue;
            }
            let (c, v) = (self.cnt, self.ccr[ch]);
            let pwm1 = if down { c <= v } else { c < v };
            match self.ocm(ch) {
                4 => self.oc_ref[ch] = false,
                5 => self.oc_ref[ch] = true,
                6 => self.oc_ref[ch] = pwm1,
                7 => self.oc_ref[ch] = !pwm1,
                _ => {}
            }
        }
    }

    fn push_outputs(&mut self, ctx: &mut Ctx) {
        let ccer = self.regs.get_or(CCER);
        for ch in 0..self.info.channels as usize {
            let (p, n) = self.outputs_enabled(ch);
            let r = self.oc_ref[ch] && self.is_oc(ch);
            let pol = ccer >> (4 * ch);
            let levels = [
                p.then_some(r ^ (pol & 2 != 0)),
                n.then_some(!r ^ (pol & 8 != 0)),
            ];
            for (i, level) in levels.into_iter().enumerate() {
                let slot = ch + 4 * i;
                if level != self.pins[slot] {
                    let signal = AfSignal::TimCh {
                        tim: self.info.n,
                        ch: ch as u8 + 1,
                        complementary: i == 1,
                    };
                    match level {
                        Some(level) => {
                            tracing::trace!(target: T, t = ctx.now, dev = self.info.name, ch = ch + 1, level, "output");
                            ctx.push(Effect::AfOutput { signal, level });
                        }
                        None if self.is_ic(ch) => ctx.push(Effect::AfRelease { signal }),
                        None => {}
                    }
                    self.pins[slot] = level;
                }
            }
        }
    }

    fn update_irqs(&mut self, ctx: &mut Ctx) {
        let active = self.regs.get(SR) & self.regs.get(DIER);
        let i = &self.info;
        let sources = [
            (i.irq_up, active & UIF != 0),
            (i.irq_cc, active & 0x1E != 0),
            (i.irq_brk, active & BIF != 0),
            (i.irq_trg_com, active & (TIF | COMIF) != 0),
        ];
        for (irq, level) in self.irq_levels.iter_mut() {
            let want = sources.iter().any(|s| s.0 == *irq && s.1);
            if want != *level {
                *level = want;
                ctx.irq(*irq, want);
            }
        }
    }

    fn reschedule(&mut self, ctx: &mut Ctx) {
        match self.counting().then(|| self.next_point(true)).flatten() {
            Some(k) => {
                let at = self.t0 + self.cycles(k);
                ctx.schedule(TOKEN, at.max(ctx.now + 1));
            }
            None => ctx.cancel(TOKEN),
        }
    }

    fn settle(&mut self, ctx: &mut Ctx) {
        self.push_trgo(ctx);
        self.update_refs();
        self.push_outputs(ctx);
        self.update_irqs(ctx);
        self.reschedule(ctx);
    }

    /// The counter value now.
    pub fn counter(&mut self, ctx: &mut Ctx) -> u32 {
        self.sync(ctx);
        self.cnt
    }

    fn reinit(&mut self, ctx: &mut Ctx) {
        self.t0 = ctx.now;
        self.uev(true);
        self.down = false;
        self.cnt = if self.edge_down() { self.arr } else { 0 };
    }
}

impl Device for Timer {
    fn name(&self) -> &str {
        self.info.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        self.sync(ctx);
        let word = match offset & !3 {
            CNT => self.cnt,
            CR1 if self.cms() != 0 => (self.cr1() & !DIR) | if self.down { DIR } else { 0 },
            o => self.regs.read(o, Size::Word).unwrap_or(0),
        };
        let v = crate::device::extract(offset, size, word);
        tracing::trace!(target: T, t = ctx.now, dev = self.info.name, reg = self.regs.name_at(offset), val = v, "read");
        if let 0x34..=0x40 = offset & !3 {
            let ch = ((offset & !3) - CCR1) as usize / 4;
            if self.is_ic(ch) {
                // Reading a capture register clears its CCxIF.
                self.regs.set_bits(SR, ccif(ch), false);
            }
        }
        // A read can reveal lazily computed flags; keep the lines in step.
        self.update_irqs(ctx);
        self.push_trgo(ctx);
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        self.sync(ctx);
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, dev = self.info.name, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        let reg = offset & !3;
        match reg {
            CR1 => {
                if self.cms() != 0 || self.info.up_only {
                    // DIR is read-only in centre-aligned mode (and absent when up-only).
                    let keep = if self.info.up_only { 0 } else { w.old & DIR };
                    self.regs.set(CR1, (w.new & !DIR) | keep);
                }
                if (w.old >> 5) & 3 == 0 && self.cms() != 0 {
                    self.down = false;
                }
                if w.new & ARPE == 0 {
                    self.arr = self.regs.get(ARR) & self.max();
                }
                let cen = w.new & CEN != 0;
                if cen && !self.running {
                    self.t0 = ctx.now;
                    if self.mms() == 1 {
                        self.trgo.push(ctx.now);
                    }
                }
                self.running = cen;
            }
            CR2 if self.mms() >= 3 && !self.warned_mms => {
                self.warned_mms = true;
                unimplemented(
                    self.info.name,
                    ctx.now,
                    "TRGO from compare pulses or OCxREF (CR2.MMS >= 011)",
                );
            }
            CNT => {
                self.cnt = w.new & self.max();
                self.regs.set(CNT, self.cnt);
                self.t0 = ctx.now;
            }
            PSC => self.regs.set(PSC, w.new & 0xFFFF),
            ARR => {
                self.regs.set(ARR, w.new & self.max());
                if self.cr1() & ARPE == 0 {
                    self.arr = w.new & self.max();
                }
            }
            EGR => {
                self.regs.set(EGR, 0);
                let mut sr = self.regs.get(SR);
                sr |= w.new & (0x1E | COMIF | TIF | BIF);
                self.regs.set(SR, sr);
                if w.new & UG != 0 {
                    if self.mms() == 0 {
                        self.trgo.push(ctx.now);
                    }
                    self.reinit(ctx);
                }
            }
            CCMR1 | CCMR2 => {
                let first = if reg == CCMR1 { 0 } else { 2 };
                for ch in first..first + 2 {
                    if self.ccmr(ch) & 3 == 3 && ch < self.info.channels as usize && !self.warned_ic
                    {
                        self.warned_ic = true;
                        unimplemented(
                            self.info.name,
                            ctx.now,
                            "input capture from TRC (CCxS = 11)",
                        );
                    }
                    if self.is_ic(ch) && (w.old ^ w.new) >> (8 * (ch % 2)) & 0xFF != 0 {
                        self.ic_events[ch] = 0;
                    }
                    if self.ccmr(ch) & 8 == 0 {
                        self.ccr[ch] = self.regs.get(CCR1 + 4 * ch as u32) & self.max();
                    }
                }
            }
            0x34..=0x40 if self.is_ic((reg - CCR1) as usize / 4) => {
                // Read-only in input capture mode.
                let ch = (reg - CCR1) as usize / 4;
                self.regs.set(reg, self.ccr[ch]);
            }
            0x34..=0x40 => {
                let ch = ((reg - CCR1) / 4) as usize;
                self.regs.set(reg, w.new & self.max());
                if self.ccmr(ch) & 8 == 0 {
                    self.ccr[ch] = w.new & self.max();
                }
            }
            _ => {}
        }
        self.settle(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, _token: u32) {
        self.sync(ctx);
        self.settle(ctx);
    }

    fn clocks_changed(&mut self, ctx: &mut Ctx) {
        self.sync(ctx);
        self.push_trgo(ctx);
        self.clk = ctx.clocks;
        self.t0 = ctx.now;
        self.reschedule(ctx);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.clk = ctx.clocks;
        self.running = false;
        self.cnt = 0;
        self.down = false;
        self.t0 = ctx.now;
        self.psc = 0;
        self.arr = 0;
        self.ccr = [0; 4];
        self.rep = 0;
        self.oc_ref = [false; 4];
        self.pins = [None; 8];
        self.ic_events = [0; 4];
        self.trgo.clear();
        ctx.cancel(TOKEN);
        for (irq, level) in self.irq_levels.iter_mut() {
            if *level {
                ctx.irq(*irq, false);
            }
            *level = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;

    const PYB: Clocks = crate::testing::PYBOARD;
    /// TIM2-7, 12-14 at PSC = 83: one step per µs = 168 CPU cycles.
    const US: u64 = 168;

    fn tim(n: u8) -> FakeBus<Timer> {
        FakeBus::new(Timer::new(n), PYB)
    }

    /// 1 MHz counter, ARR = 999 (1 ms period), update interrupt on.
    fn one_ms(b: &mut FakeBus<Timer>) {
        b.write32(PSC, 83);
        b.write32(ARR, 999);
        b.write32(EGR, UG);
        b.write32(SR, 0);
        b.write32(DIER, UIF);
    }

    fn outputs(b: &mut FakeBus<Timer>) -> Vec<(u64, u8, bool, bool)> {
        b.take_log()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Effect::AfOutput {
                    signal:
                        AfSignal::TimCh {
                            ch, complementary, ..
                        },
                    level,
                } => Some((t, ch, complementary, level)),
                _ => None,
            })
            .collect()
    }

    /// Centre-aligned, counting up, CNT written above ARR: the next step reaches ARR
    /// and the counter turns down (the compare search underflowed here).
    #[test]
    fn centre_aligned_counter_above_arr_turns_down() {
        let mut b = tim(3);
        b.write32(ARR, 100);
        b.write32(CCR1, 50);
        b.write32(EGR, UG);
        b.write32(SR, 0);
        b.write32(CCMR1, 3 << 4); // toggle on match
        b.write32(DIER, 1 << 1); // CC1IE
        b.write32(CNT, 500);
        b.write32(CR1, CEN | 1 << 5); // CMS = 01: flags while counting down
                                      // TIM3 at 84 MHz, PSC 0: a step is 2 CPU cycles. 1 step to ARR, 50 down to 50.
        b.advance(2 * 51 - 1);
        assert_eq!(b.read32(SR) & (1 << 1), 0);
        b.advance(1);
        assert_eq!(b.read32(CNT), 50);
        assert_ne!(b.read32(SR) & (1 << 1), 0, "CC1IF on the way down");
        assert!(b.irq(instance(3).unwrap().irq_cc));
    }

    /// With UDIS there is no update event: a one-pulse timer with a pending PSC preload
    /// keeps counting with the old prescaler, and catching up over a long time is done
    /// in closed form (it walked every overflow before, for hours of host time).
    #[test]
    fn udis_counter_catches_up_in_closed_form() {
        let mut b = tim(6);
        b.write32(PSC, 9);
        b.write32(ARR, 7);
        b.write32(EGR, UG);
        b.write32(SR, 0);
        b.write32(PSC, 15_104); // preload: never loaded without an update event
        b.write32(CR1, CEN | UDIS | OPM);
        let gap = 1u64 << 40;
        b.advance(gap);
        // 84 MHz timer clock: 2 CPU cycles a tick, 10 ticks a step, period 8.
        assert_eq!(b.read32(CNT) as u64, gap / 2 / 10 % 8);
        assert_eq!(
            b.read32(CR1) & CEN,
            CEN,
            "no update event, no one-pulse stop"
        );
        assert_eq!(b.read32(SR) & UIF, 0);
    }

    #[test]
    fn reset_values_and_instances() {
        let mut b = tim(1);
        for off in [
            CR1, CR2, SMCR, DIER, SR, CCMR1, CCER, CNT, PSC, ARR, RCR, CCR1, BDTR,
        ] {
            assert_eq!(b.read32(off), 0, "offset {off:#x}");
        }
        let i = instance(10).unwrap();
        assert_eq!(
            (i.irq_up, i.apb2, i.channels, i.bits32),
            (25, true, 1, false)
        );
        let i = instance(8).unwrap();
        assert_eq!(
            (i.irq_up, i.irq_cc, i.irq_brk, i.irq_trg_com),
            (44, 46, 43, 45)
        );
        assert!(instance(5).unwrap().bits32);
        assert_eq!(instance(6).unwrap().irq_up, 54);
        // Basic timers have no CCR1: reads 0, writes ignored.
        let mut b = tim(6);
        b.write32(CCR1, 5);
        assert_eq!(b.read32(CCR1), 0);
    }

    #[test]
    fn update_interrupt_every_period_and_counter_reads() {
        let mut b = tim(2);
        one_ms(&mut b);
        b.write32(CR1, CEN);
        b.advance(500 * US);
        assert_eq!(b.read32(CNT), 500);
        b.advance(500 * US - 1);
        assert!(!b.irq(28));
        b.advance(1);
        assert!(b.irq(28), "update at 1 ms");
        assert_eq!(b.read32(SR) & UIF, UIF);
        assert_eq!(b.read32(CNT), 0);
        b.write32(SR, !UIF);
        assert!(!b.irq(28));
        assert_eq!(b.next_deadline(), Some(b.now + 1000 * US));
        b.advance(1000 * US);
        assert!(b.irq(28));
    }

    fn trgos(b: &mut FakeBus<Timer>) -> Vec<(u64, u64)> {
        b.take_log()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Effect::TimerTrgo { at, .. } => Some((t, at)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn trgo_on_update_reset_and_enable() {
        // TIM6 on APB1 at 84 MHz: PSC 1, ARR 41999: an update every 168 000 cycles.
        let mut b = tim(6);
        b.write32(PSC, 1);
        b.write32(ARR, 41_999);
        b.write32(EGR, UG);
        b.write32(CR2, 2 << 4);
        b.write32(CR1, CEN);
        trgos(&mut b);
        b.advance(3 * 168_000);
        let got = trgos(&mut b);
        assert_eq!(
            got,
            vec![(168_000, 168_000), (336_000, 336_000), (504_000, 504_000)],
            "one event per update, at its exact cycle"
        );
        // A read later than a pending update still reports the update's own cycle.
        b.advance(100);
        b.with(|d, ctx| {
            ctx.now += 168_000;
            d.read(ctx, SR, Size::Word).unwrap()
        });
        assert_eq!(trgos(&mut b), vec![(504_100, 672_000)]);
        // MMS = 000: UG; MMS = 001: CEN rising.
        let mut b = tim(7);
        b.write32(EGR, UG);
        assert_eq!(trgos(&mut b), vec![(0, 0)]);
        b.write32(CR2, 1 << 4);
        b.advance(10);
        b.write32(CR1, CEN);
        assert_eq!(trgos(&mut b), vec![(10, 10)]);
        b.write32(EGR, UG);
        assert_eq!(trgos(&mut b), vec![]);
    }

    #[test]
    fn no_trgo_and_no_events_without_mms() {
        let mut b = tim(6);
        b.write32(ARR, 41_999);
        b.write32(CR1, CEN);
        assert_eq!(b.next_deadline(), None, "nothing observable: no event");
        b.advance(1_000_000);
        assert_eq!(trgos(&mut b), vec![]);
    }

    #[test]
    fn prescaler_is_buffered_until_the_update() {
        let mut b = tim(3);
        one_ms(&mut b);
        b.write32(CR1, CEN);
        b.advance(100 * US);
        b.write32(PSC, 167); // 0.5 MHz from the next period on
        assert_eq!(b.read32(CNT), 100);
        b.advance(900 * US);
        assert!(b.irq(29));
        b.write32(SR, 0);
        b.advance(1000 * US);
        assert_eq!(b.read32(CNT), 500);
        assert!(!b.irq(29));
        b.advance(1000 * US);
        assert!(b.irq(29));
    }

    #[test]
    fn arr_preload() {
        let mut b = tim(4);
        one_ms(&mut b);
        b.write32(CR1, CEN | ARPE);
        b.advance(10 * US);
        b.write32(ARR, 99);
        b.advance(990 * US);
        assert!(b.irq(30), "old ARR still active");
        b.write32(SR, 0);
        b.advance(100 * US);
        assert!(b.irq(30), "new ARR after the update");
        // Without ARPE the new value is taken at once.
        let mut b = tim(4);
        one_ms(&mut b);
        b.write32(CR1, CEN);
        b.advance(10 * US);
        b.write32(ARR, 99);
        b.advance(90 * US);
        assert!(b.irq(30));
    }

    #[test]
    fn downcounting_and_centre_aligned() {
        let mut b = tim(5);
        b.write32(PSC, 83);
        b.write32(ARR, 999);
        b.write32(CR1, DIR);
        b.write32(EGR, UG);
        b.write32(SR, 0);
        b.write32(DIER, UIF);
        assert_eq!(b.read32(CNT), 999);
        b.write32(CR1, DIR | CEN);
        b.advance(300 * US);
        assert_eq!(b.read32(CNT), 699);
        b.advance(700 * US);
        assert!(b.irq(50));
        assert_eq!(b.read32(CNT), 999);

        // Centre-aligned: updates at the top (ARR) and at the bottom (0).
        let mut b = tim(3);
        b.write32(PSC, 83);
        b.write32(ARR, 100);
        b.write32(EGR, UG);
        b.write32(SR, 0);
        b.write32(DIER, UIF);
        b.write32(CR1, CEN | (1 << 5));
        b.advance(100 * US);
        assert!(b.irq(29));
        assert_eq!(b.read32(CNT), 100);
        b.advance(30 * US);
        assert_eq!(b.read32(CNT), 70);
        assert_eq!(b.read32(CR1) & DIR, DIR, "DIR reads the direction");
        b.write32(SR, 0);
        b.advance(70 * US);
        assert!(b.irq(29));
        assert_eq!(b.read32(CNT), 0);
        assert_eq!(b.read32(CR1) & DIR, 0);
    }

    #[test]
    fn one_pulse_mode_stops_the_counter() {
        let mut b = tim(6);
        b.write32(PSC, 83);
        b.write32(ARR, 49);
        b.write32(EGR, UG);
        b.write32(SR, 0);
        b.write32(DIER, UIF);
        b.write32(CR1, CEN | OPM);
        b.advance(50 * US);
        assert!(b.irq(54));
        b.advance(1000 * US);
        assert_eq!(b.read32(CR1) & CEN, 0);
        assert_eq!(b.read32(CNT), 0);
        assert_eq!(b.next_deadline(), None);
    }

    #[test]
    fn pwm_mode_1_and_2_drive_the_outputs() {
        let mut b = tim(3);
        b.write32(PSC, 83);
        b.write32(ARR, 999);
        b.write32(CCR1, 250);
        b.write32(CCMR1, (6 << 4) | (1 << 3) | (7 << 12)); // CH1 PWM1 preload, CH2 PWM2
        b.write32(0x38, 750); // CCR2
        b.write32(EGR, UG);
        b.take_log();
        b.write32(CCER, 1 | (1 << 4));
        b.write32(CR1, CEN);
        assert_eq!(
            outputs(&mut b),
            vec![(0, 1, false, true), (0, 2, false, false)]
        );
        b.advance(1000 * US);
        assert_eq!(
            outputs(&mut b),
            vec![
                (250 * US, 1, false, false),
                (750 * US, 2, false, true),
                (1000 * US, 1, false, true),
                (1000 * US, 2, false, false)
            ]
        );
        // Polarity inverts the pin.
        b.write32(CCER, 1 | 2);
        assert_eq!(outputs(&mut b), vec![(1000 * US, 1, false, false)]);
    }

    #[test]
    fn toggle_on_match_with_cc_interrupt() {
        let mut b = tim(4);
        b.write32(PSC, 83);
        b.write32(ARR, 99);
        b.write32(CCR1 + 8, 40); // CCR3
        b.write32(EGR, UG); // load PSC
        b.write32(SR, 0);
        b.write32(CCMR2, 3 << 4); // OC3 toggle
        b.write32(CCER, 1 << 8);
        b.write32(DIER, ccif(2));
        b.write32(CR1, CEN);
        b.take_log();
        b.advance(40 * US);
        assert!(b.irq(30));
        assert_eq!(b.read32(SR) & ccif(2), ccif(2));
        b.write32(SR, 0);
        b.advance(100 * US);
        assert_eq!(
            outputs(&mut b),
            vec![(40 * US, 3, false, true), (140 * US, 3, false, false)]
        );
    }

    #[test]
    fn advanced_timer_repetition_moe_and_complementary() {
        // TIM1 on APB2 at 168 MHz: PSC 167 → 1 µs steps.
        let mut b = tim(1);
        b.write32(PSC, 167);
        b.write32(ARR, 99);
        b.write32(RCR, 2);
        b.write32(EGR, UG);
        b.write32(SR, 0);
        b.write32(DIER, UIF);
        b.write32(CCMR1, 5 << 4); // force active
        b.write32(CCER, 1 | 4);
        b.take_log();
        b.write32(CR1, CEN);
        assert_eq!(outputs(&mut b), vec![], "MOE = 0: outputs off");
        b.write32(BDTR, MOE);
        assert_eq!(
            outputs(&mut b),
            vec![(0, 1, false, true), (0, 1, true, false)]
        );
        b.advance(299 * US);
        assert!(!b.irq(25));
        b.advance(US);
        assert!(b.irq(25), "update every RCR + 1 = 3 periods");
    }

    #[test]
    fn long_runs_are_closed_form() {
        let mut b = tim(2);
        one_ms(&mut b);
        b.write32(DIER, 0);
        b.write32(CR1, CEN);
        assert_eq!(b.next_deadline(), None, "nothing observable: no event");
        b.advance(3_600 * 1_000_000 * US + 123 * US); // an hour
        assert_eq!(b.read32(CNT), 123);
        assert_eq!(b.read32(SR) & UIF, UIF);
    }

    #[test]
    fn clock_change_rebases_the_counter() {
        let mut b = tim(2);
        one_ms(&mut b);
        b.write32(CR1, CEN);
        b.advance(400 * US);
        b.clocks = Clocks {
            tim_apb1: 42_000_000,
            ..PYB
        };
        b.with(|d, ctx| d.clocks_changed(ctx));
        b.advance(200 * US);
        assert_eq!(b.read32(CNT), 500, "half speed after the change");
    }

    /// pyb.Timer(2, prescaler=83, period=0xffffffff) with channel 1 in IC mode: each
    /// selected edge latches the counter; a second capture before CCR1 is read sets
    /// CC1OF; the prescaler takes every second edge; IC2 mapped on TI1 sees falls.
    #[test]
    fn input_capture_latches_the_counter() {
        let mut b = tim(2);
        b.write32(PSC, 83);
        b.write32(ARR, 0xFFFF_FFFF);
        b.write32(EGR, UG);
        b.write32(SR, 0);
        b.write32(CCMR1, 1 | (2 << 8)); // IC1 on TI1, IC2 on TI1
        b.write32(CCER, 1 | (1 << 4) | (1 << 5)); // CC1E rising, CC2E falling (CC2P)
        b.write32(DIER, ccif(0));
        b.write32(CR1, CEN);
        let t0 = b.now;
        b.advance_to(t0 + 1000 * US);
        b.with(|d, ctx| d.input_edge(ctx, 0, true));
        assert!(b.irq(28));
        assert_eq!(b.read32(SR) & (ccif(0) | ccif(1)), ccif(0));
        b.advance_to(t0 + 1500 * US);
        b.with(|d, ctx| d.input_edge(ctx, 0, false));
        assert_eq!(b.read32(CCR2), 1500);
        b.advance_to(t0 + 3500 * US);
        b.with(|d, ctx| d.input_edge(ctx, 0, true));
        assert_eq!(b.read32(SR) & (1 << 9), 1 << 9, "CC1OF");
        assert_eq!(b.read32(CCR1), 3500);
        assert_eq!(b.read32(SR) & ccif(0), 0, "reading CCR1 clears CC1IF");
        assert!(!b.irq(28));
        b.write32(CCR1, 7); // read-only in input mode
        assert_eq!(b.read32(CCR1), 3500);
        // ICPSC = /2: every second rising edge.
        b.write32(CCMR1, 1 | (1 << 2) | (2 << 8));
        for k in 1..=4u64 {
            b.advance_to(t0 + (4000 + 100 * k) * US);
            b.with(|d, ctx| d.input_edge(ctx, 0, true));
        }
        assert_eq!(b.read32(CCR1), 4400);
        // An input channel that is not enabled (CC1E = 0) captures nothing.
        b.write32(CCER, 0);
        b.advance_to(t0 + 5000 * US);
        b.with(|d, ctx| d.input_edge(ctx, 0, true));
        b.with(|d, ctx| d.input_edge(ctx, 0, true));
        assert_eq!(b.read32(CCR1), 4400);
    }
}
