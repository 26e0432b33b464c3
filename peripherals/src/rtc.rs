//! RTC, the real-time clock with its backup registers (RM0090 §26, registers §26.6).
//!
//! Modelled:
//! - Write protection: after a reset every register but the ISR flags, TAFCR and the
//!   backup registers ignores writes until WPR receives 0xCA then 0x53; any other key
//!   locks again.
//! - Initialisation mode: ISR.INIT set → INITF rises two RTCCLK periods later (the
//!   calendar stops; TR, DR and PRER are writable); INIT cleared → INITF falls and the
//!   calendar runs from the written values. INITS follows "year != 0".
//! - RSF: cleared by software (rc_w0) or by init mode, set again two RTCCLK periods
//!   later (the shadow-register resynchronisation the firmware waits for).
//! - Calendar: TR, DR (BCD, 24 h; FMT stored), SSR computed from virtual time through
//!   RTCCLK (a constructor parameter: 32 768 Hz for the Pyboard's LSE) and PRER, with
//!   leap years and the weekday; the clock tree changes are folded in.
//! - Wakeup timer (§26.3.6): with CR.WUTE set, a down-counter loaded from WUTR counts
//!   the wakeup clock (CR.WUCKSEL: RTCCLK/16, /8, /4, /2, or ck_spre, the calendar's
//!   1 Hz, with 2^16 added to WUTR for 11x); WUTF rises every WUTR + 1 wakeup clock
//!   periods, counted from the moment WUTE was set. WUTWF reads 1 while WUTE is 0
//!   (at once: the up-to-two RTCCLK synchronisation delay is not modelled).
//! - Alarms A and B (§26.3.5): with CR.ALRxE set, ALRxF rises at the calendar second
//!   that matches ALRMxR (seconds, minutes, hours with PM, date or weekday with WDSEL,
//!   each skipped when its MSKn bit is set); ALRxWF reads 1 while ALRxE is 0.
//! - Interrupt outputs: EXTI line 22 follows WUTF & WUTIE, EXTI line 17 follows
//!   (ALRAF & ALRAIE) | (ALRBF & ALRBIE); EXTI detects the edges and raises RTC_WKUP
//!   (IRQ 3) and RTC_Alarm (IRQ 41) when the firmware unmasks the lines.
//! - BKP0R-BKP19R: 20 backup registers, kept across system resets.
//! - The RTC is in the backup domain: [`Device::reset`] (a system reset) only re-arms
//!   the write protection; [`Rtc::backup_domain_reset`] resets everything.
//!
//! Not modelled:
//! - Alarm sub-seconds (ALRMxSSR: alarms match on whole seconds, as with MASKSS = 0),
//!   time stamp, tamper, calibration (CALR, CALIBR, SHIFTR),
//!   reference clock detection, daylight-saving ADD1H/SUB1H, 12 h format, BYPSHAD
//!   (reads are always current), the calibration output: stored, warned once when set.
//! - The RTCCLK source selection in RCC_BDCR (the model assumes RTCCLK runs).

use crate::device::{BusError, Clocks, Ctx, Device, Effect, Size};
use crate::regs::{f, guest_error, unmodelled, Access::*, Block, Field, Reg};

const T: &str = "periph::rtc";

pub const TR: u32 = 0x00;
pub const DR: u32 = 0x04;
pub const CR: u32 = 0x08;
pub const ISR: u32 = 0x0C;
pub const PRER: u32 = 0x10;
pub const WUTR: u32 = 0x14;
pub const ALRMAR: u32 = 0x1C;
pub const ALRMBR: u32 = 0x20;
pub const WPR: u32 = 0x24;
pub const SSR: u32 = 0x28;
pub const TAFCR: u32 = 0x40;
pub const BKP0R: u32 = 0x50;

pub const INITS: u32 = 1 << 4;
pub const RSF: u32 = 1 << 5;
pub const INITF: u32 = 1 << 6;
pub const INIT: u32 = 1 << 7;
pub const ALRAWF: u32 = 1 << 0;
pub const ALRBWF: u32 = 1 << 1;
pub const WUTWF: u32 = 1 << 2;
pub const ALRAF: u32 = 1 << 8;
pub const ALRBF: u32 = 1 << 9;
pub const WUTF: u32 = 1 << 10;

pub const CR_ALRAE: u32 = 1 << 8;
pub const CR_ALRBE: u32 = 1 << 9;
pub const CR_WUTE: u32 = 1 << 10;
pub const CR_ALRAIE: u32 = 1 << 12;
pub const CR_ALRBIE: u32 = 1 << 13;
pub const CR_WUTIE: u32 = 1 << 14;

/// EXTI lines of the RTC's interrupt outputs.
pub const EXTI_ALARM: u8 = 17;
pub const EXTI_WAKEUP: u8 = 22;

const TOKEN_INITF: u32 = 0;
const TOKEN_RSF: u32 = 1;
const TOKEN_WUT: u32 = 2;
const TOKEN_ALRA: u32 = 3;
const TOKEN_ALRB: u32 = 4;

const W32: &[Field] = &[f("x", 0, 32, Rw)];
const fn u(offset: u32, name: &'static str, reset: u32) -> Reg {
    Reg {
        offset,
        name,
        reset,
        fields: UNMOD,
    }
}
const UNMOD: &[Field] = &[unmodelled("x", 0, 32, Rw)];
const fn bkp(i: u32) -> Reg {
    const NAMES: [&str; 20] = [
        "BKP0R", "BKP1R", "BKP2R", "BKP3R", "BKP4R", "BKP5R", "BKP6R", "BKP7R", "BKP8R", "BKP9R",
        "BKP10R", "BKP11R", "BKP12R", "BKP13R", "BKP14R", "BKP15R", "BKP16R", "BKP17R", "BKP18R",
        "BKP19R",
    ];
    Reg {
        offset: BKP0R + 4 * i,
        name: NAMES[i as usize],
        reset: 0,
        fields: W32,
    }
}

pub const REGS: &[Reg] = &[
    Reg {
        offset: TR,
        name: "TR",
        reset: 0,
        fields: &[f("TIME", 0, 23, Rw)],
    },
    Reg {
        offset: DR,
        name: "DR",
        reset: 0x0000_2101,
        fields: &[f("DATE", 0, 24, Rw)],
    },
    Reg {
        offset: CR,
        name: "CR",
        reset: 0,
        fields: &[
            f("WUCKSEL", 0, 3, Rw),
            unmodelled("TSEDGE", 3, 1, Rw),
            unmodelled("REFCKON", 4, 1, Rw),
            unmodelled("BYPSHAD", 5, 1, Rw),
            f("FMT", 6, 1, Rw),
            unmodelled("DCE", 7, 1, Rw),
            f("ALRAE", 8, 1, Rw),
            f("ALRBE", 9, 1, Rw),
            f("WUTE", 10, 1, Rw),
            unmodelled("TSE", 11, 1, Rw),
            f("ALRAIE", 12, 1, Rw),
            f("ALRBIE", 13, 1, Rw),
            f("WUTIE", 14, 1, Rw),
            unmodelled("TSIE", 15, 1, Rw),
            unmodelled("ADD1H", 16, 1, W),
            unmodelled("SUB1H", 17, 1, W),
            unmodelled("BKP", 18, 1, Rw),
            unmodelled("COSEL", 19, 1, Rw),
            unmodelled("POL", 20, 1, Rw),
            unmodelled("OSEL", 21, 2, Rw),
            unmodelled("COE", 23, 1, Rw),
        ],
    },
    Reg {
        offset: ISR,
        name: "ISR",
        reset: 0x0000_0007,
        fields: &[
            f("ALRAWF", 0, 1, R),
            f("ALRBWF", 1, 1, R),
            f("WUTWF", 2, 1, R),
            f("SHPF", 3, 1, R),
            f("INITS", 4, 1, R),
            f("RSF", 5, 1, Rc0),
            f("INITF", 6, 1, R),
            f("INIT", 7, 1, Rw),
            f("ALRAF", 8, 1, Rc0),
            f("ALRBF", 9, 1, Rc0),
            f("WUTF", 10, 1, Rc0),
            f("TSF", 11, 1, Rc0),
            f("TSOVF", 12, 1, Rc0),
            f("TAMP1F", 13, 1, Rc0),
            f("TAMP2F", 14, 1, Rc0),
            f("RECALPF", 16, 1, R),
        ],
    },
    Reg {
        offset: PRER,
        name: "PRER",
        reset: 0x007F_00FF,
        fields: &[f("PREDIV_S", 0, 15, Rw), f("PREDIV_A", 16, 7, Rw)],
    },
    Reg {
        offset: WUTR,
        name: "WUTR",
        reset: 0xFFFF,
        fields: &[f("WUT", 0, 16, Rw)],
    },
    u(0x18, "CALIBR", 0),
    Reg {
        offset: ALRMAR,
        name: "ALRMAR",
        reset: 0,
        fields: W32,
    },
    Reg {
        offset: ALRMBR,
        name: "ALRMBR",
        reset: 0,
        fields: W32,
    },
    Reg {
        offset: WPR,
        name: "WPR",
        reset: 0,
        fields: &[f("KEY", 0, 8, W)],
    },
    Reg {
        offset: SSR,
        name: "SSR",
        reset: 0,
        fields: &[f("SS", 0, 16, R)],
    },
    Reg {
        offset: 0x2C,
        name: "SHIFTR",
        reset: 0,
        fields: &[unmodelled("x", 0, 32, W)],
    },
    Reg {
        offset: 0x30,
        name: "TSTR",
        reset: 0,
        fields: &[f("x", 0, 32, R)],
    },
    Reg {
        offset: 0x34,
        name: "TSDR",
        reset: 0,
        fields: &[f("x", 0, 32, R)],
    },
    Reg {
        offset: 0x38,
        name: "TSSSR",
        reset: 0,
        fields: &[f("x", 0, 32, R)],
    },
    u(0x3C, "CALR", 0),
    u(TAFCR, "TAFCR", 0),
    u(0x44, "ALRMASSR", 0),
    u(0x48, "ALRMBSSR", 0),
    bkp(0),
    bkp(1),
    bkp(2),
    bkp(3),
    bkp(4),
    bkp(5),
    bkp(6),
    bkp(7),
    bkp(8),
    bkp(9),
    bkp(10),
    bkp(11),
    bkp(12),
    bkp(13),
    bkp(14),
    bkp(15),
    bkp(16),
    bkp(17),
    bkp(18),
    bkp(19),
];

/// Days since 2000-01-01 of a date in 2000-2099.
fn days_from_civil(y: u32, m: u32, d: u32) -> u64 {
    let mut days = 0u64;
    for yy in 0..y {
        days += if yy & 3 == 0 { 366 } else { 365 };
    }
    for mm in 1..m {
        days += month_len(y, mm) as u64;
    }
    days + d.saturating_sub(1) as u64
}

fn month_len(y: u32, m: u32) -> u32 {
    match m {
        2 if y & 3 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn civil_from_days(mut days: u64) -> (u32, u32, u32) {
    let mut y = 0;
    loop {
        let len = if y & 3 == 0 { 366 } else { 365 };
        if days < len || y == 99 {
            break;
        }
        days -= len;
        y += 1;
    }
    let mut m = 1;
    while m < 12 && days >= month_len(y, m) as u64 {
        days -= month_len(y, m) as u64;
        m += 1;
    }
    (y, m, days as u32 + 1)
}

fn bcd(v: u32) -> u32 {
    ((v / 10) << 4) | (v % 10)
}

fn unbcd(v: u32) -> u32 {
    (v >> 4) * 10 + (v & 0xF)
}

pub struct Rtc {
    regs: Block,
    rtcclk_hz: u32,
    /// WPR key progress: 0 locked, 1 after 0xCA, 2 unlocked.
    wpr: u8,
    /// Calendar running (not in init mode).
    running: bool,
    /// RTCCLK ticks counted since the calendar values in TR/DR, as of `anchor`.
    ticks: u64,
    anchor: u64,
    clk: Clocks,
    /// RTCCLK ticks since power-on as of `abs_anchor` (never stops).
    abs_ticks: u64,
    abs_anchor: u64,
    /// Wakeup timer: absolute RTCCLK tick of the next WUTF, while WUTE is set.
    wut_next: Option<u64>,
    /// Levels driven on EXTI lines 17 and 22.
    alarm_line: bool,
    wakeup_line: bool,
}

impl Rtc {
    /// An RTC clocked at `rtcclk_hz` (32 768 Hz from the Pyboard's LSE), in its
    /// power-on state with the calendar running.
    pub fn new(rtcclk_hz: u32) -> Rtc {
        Rtc {
            regs: Block::new("RTC", REGS),
            rtcclk_hz,
            wpr: 0,
            running: true,
            ticks: 0,
            anchor: 0,
            clk: Clocks::RESET,
            abs_ticks: 0,
            abs_anchor: 0,
            wut_next: None,
            alarm_line: false,
            wakeup_line: false,
        }
    }

    /// Backup register `i` (0-19).
    pub fn backup(&self, i: usize) -> u32 {
        self.regs.get(BKP0R + 4 * i as u32)
    }

    /// Backup domain reset (RCC_BDCR.BDRST or power-on): everything to reset values.
    pub fn backup_domain_reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.running = true;
        self.ticks = 0;
        self.anchor = ctx.now;
        self.clk = ctx.clocks;
        self.wpr = 0;
        self.abs_ticks = self.abs_now(ctx.now);
        self.abs_anchor = ctx.now;
        self.wut_next = None;
        for t in [TOKEN_INITF, TOKEN_RSF, TOKEN_WUT, TOKEN_ALRA, TOKEN_ALRB] {
            ctx.cancel(t);
        }
        self.update_lines(ctx);
    }

    /// RTCCLK ticks since power-on at `now`.
    fn abs_now(&self, now: u64) -> u64 {
        self.abs_ticks
            + self
                .clk
                .to_ticks(now.saturating_sub(self.abs_anchor), self.rtcclk_hz)
    }

    /// The virtual cycle at which absolute RTCCLK tick `tick` happens.
    fn abs_cycle(&self, tick: u64) -> u64 {
        self.abs_anchor
            + self
                .clk
                .to_cycles(tick.saturating_sub(self.abs_ticks), self.rtcclk_hz)
    }

    /// Wakeup clock period and the number of periods per WUTF, in RTCCLK ticks.
    fn wakeup_period(&self) -> u64 {
        let cr = self.regs.get(CR);
        let wut = (self.regs.get(WUTR) & 0xFFFF) as u64;
        let (a, s) = self.prescalers();
        match cr & 7 {
            0 => 16 * (wut + 1),
            1 => 8 * (wut + 1),
            2 => 4 * (wut + 1),
            3 => 2 * (wut + 1),
            4 | 5 => a * s * (wut + 1),
            _ => a * s * (wut + 1 + 0x1_0000),
        }
    }

    fn schedule_wakeup(&mut self, ctx: &mut Ctx) {
        match self.wut_next {
            Some(t) => ctx.schedule(TOKEN_WUT, self.abs_cycle(t)),
            None => ctx.cancel(TOKEN_WUT),
        }
    }

    /// Drives EXTI lines 17 and 22 from the flags and their interrupt enables.
    fn update_lines(&mut self, ctx: &mut Ctx) {
        let cr = self.regs.get(CR);
        let isr = self.regs.get(ISR);
        let wk = isr & WUTF != 0 && cr & CR_WUTIE != 0;
        let al =
            (isr & ALRAF != 0 && cr & CR_ALRAIE != 0) || (isr & ALRBF != 0 && cr & CR_ALRBIE != 0);
        if wk != self.wakeup_line {
            self.wakeup_line = wk;
            ctx.push(Effect::ExtiLine {
                line: EXTI_WAKEUP,
                level: wk,
            });
        }
        if al != self.alarm_line {
            self.alarm_line = al;
            ctx.push(Effect::ExtiLine {
                line: EXTI_ALARM,
                level: al,
            });
        }
    }

    /// Seconds from the calendar time (`tr`, `dr`) to the next second that matches
    /// alarm register `alrm` (at least 1), or None if none does within 62 days.
    fn alarm_delay(tr: u32, dr: u32, alrm: u32) -> Option<u64> {
        let msk1 = alrm & (1 << 7) != 0;
        let msk2 = alrm & (1 << 15) != 0;
        let msk3 = alrm & (1 << 23) != 0;
        let msk4 = alrm & (1 << 31) != 0;
        let a_sec = unbcd(alrm & 0x7F);
        let a_min = unbcd((alrm >> 8) & 0x7F);
        let a_hour = unbcd((alrm >> 16) & 0x3F);
        let a_day = unbcd((alrm >> 24) & 0x3F);
        let wdsel = alrm & (1 << 30) != 0;
        // With WDSEL, DU holds the weekday (1-7) and DT is ignored.
        let a_day = if wdsel { (alrm >> 24) & 0xF } else { a_day };
        // A field that can never match (seconds 0x7F, hour 29, day 0 or 32, weekday 0)
        // gives no alarm, rather than a search of every second of 62 days.
        let day_max = if wdsel { 7 } else { 31 };
        if (!msk1 && a_sec > 59)
            || (!msk2 && a_min > 59)
            || (!msk3 && a_hour > 23)
            || (!msk4 && (a_day == 0 || a_day > day_max))
        {
            return None;
        }
        let tod = unbcd(tr & 0x7F) + 60 * unbcd((tr >> 8) & 0x7F) + 3600 * unbcd((tr >> 16) & 0x3F);
        let y = unbcd((dr >> 16) & 0xFF);
        let m = unbcd((dr >> 8) & 0x1F).clamp(1, 12);
        let d = unbcd(dr & 0x3F).max(1);
        let wd = (dr >> 13) & 7;
        let day0 = days_from_civil(y, m, d);
        // Earliest second of the day at or after `from` matching the time fields.
        let in_day = |from: u32| -> Option<u32> {
            for h in 0..24u32 {
                if !msk3 && h != a_hour {
                    continue;
                }
                for mi in 0..60u32 {
                    if !msk2 && mi != a_min {
                        continue;
                    }
                    let base = h * 3600 + mi * 60;
                    if base + 59 < from {
                        continue;
                    }
                    for se in 0..60u32 {
                        if (!msk1 && se != a_sec) || base + se < from {
                            continue;
                        }
                        return Some(base + se);
                    }
                }
            }
            None
        };
        for k in 0..62u64 {
            let day_ok = msk4 || {
                if wdsel {
                    wd != 0 && ((wd - 1) as u64 + k) % 7 + 1 == a_day as u64
                } else {
                    let (_, _, dd) = civil_from_days(day0 + k);
                    dd == a_day
                }
            };
            if !day_ok {
                continue;
            }
            let from = if k == 0 { tod + 1 } else { 0 };
            if let Some(sec) = in_day(from) {
                return Some(k * 86_400 + sec as u64 - tod as u64);
            }
        }
        None
    }

    /// Schedules (or cancels) the event of alarm A (`b` false) or B.
    fn schedule_alarm(&mut self, ctx: &mut Ctx, b: bool) {
        let (token, en, reg) = if b {
            (TOKEN_ALRB, CR_ALRBE, ALRMBR)
        } else {
            (TOKEN_ALRA, CR_ALRAE, ALRMAR)
        };
        if !self.running || self.regs.get(CR) & en == 0 {
            ctx.cancel(token);
            return;
        }
        let (tr, dr, _) = self.calendar(ctx.now);
        let Some(delay) = Self::alarm_delay(tr, dr, self.regs.get(reg)) else {
            ctx.cancel(token);
            return;
        };
        // The calendar second boundary `delay` seconds ahead, in RTCCLK ticks.
        let (a, s) = self.prescalers();
        let per_sec = a * s;
        let cal = self.ticks_now(ctx.now);
        let target = (cal / per_sec + delay) * per_sec;
        let at = self.anchor
            + self
                .clk
                .to_cycles(target.saturating_sub(self.ticks), self.rtcclk_hz);
        ctx.schedule(token, at.max(ctx.now + 1));
    }

    fn schedule_alarms(&mut self, ctx: &mut Ctx) {
        self.schedule_alarm(ctx, false);
        self.schedule_alarm(ctx, true);
    }

    /// The write-flags of ISR follow the enables (ALRxWF, WUTWF = 1 while disabled).
    fn update_write_flags(&mut self) {
        let cr = self.regs.get(CR);
        self.regs.set_bits(ISR, ALRAWF, cr & CR_ALRAE == 0);
        self.regs.set_bits(ISR, ALRBWF, cr & CR_ALRBE == 0);
        self.regs.set_bits(ISR, WUTWF, cr & CR_WUTE == 0);
    }

    fn prescalers(&self) -> (u64, u64) {
        let p = self.regs.get(PRER);
        (((p >> 16) & 0x7F) as u64 + 1, (p & 0x7FFF) as u64 + 1)
    }

    fn ticks_now(&self, now: u64) -> u64 {
        if !self.running {
            return self.ticks;
        }
        self.ticks
            + self
                .clk
                .to_ticks(now.saturating_sub(self.anchor), self.rtcclk_hz)
    }

    /// (TR, DR, SSR) at `now`.
    fn calendar(&self, now: u64) -> (u32, u32, u32) {
        let tr = self.regs.get(TR);
        let dr = self.regs.get(DR);
        if !self.running {
            return (tr, dr, self.regs.get(PRER) & 0x7FFF);
        }
        let (a, s) = self.prescalers();
        let ck_apre = self.ticks_now(now) / a;
        let secs = ck_apre / s;
        let ss = (s - 1 - ck_apre % s) as u32;
        let sec0 =
            unbcd(tr & 0x7F) + 60 * unbcd((tr >> 8) & 0x7F) + 3600 * unbcd((tr >> 16) & 0x3F);
        let y = unbcd((dr >> 16) & 0xFF);
        let m = unbcd((dr >> 8) & 0x1F).clamp(1, 12);
        let d = unbcd(dr & 0x3F).max(1);
        let wd = (dr >> 13) & 7;
        let total = sec0 as u64 + secs;
        let day_adv = total / 86_400;
        let tod = (total % 86_400) as u32;
        let (y2, m2, d2) = civil_from_days(days_from_civil(y, m, d) + day_adv);
        let wd2 = if wd == 0 {
            0
        } else {
            ((wd - 1) as u64 + day_adv) % 7 + 1
        } as u32;
        let tr2 = bcd(tod % 60) | (bcd(tod / 60 % 60) << 8) | (bcd(tod / 3600) << 16);
        let dr2 = bcd(d2) | (bcd(m2) << 8) | (wd2 << 13) | (bcd(y2) << 16);
        (tr2, dr2, ss)
    }

    fn protected(&self, reg: u32) -> bool {
        self.wpr != 2 && !(reg == TAFCR || reg >= BKP0R || reg == WPR || reg == ISR)
    }

    fn rtcclk_cycles(&self, ctx: &Ctx, n: u64) -> u64 {
        ctx.clocks.to_cycles(n, self.rtcclk_hz)
    }

    fn update_inits(&mut self) {
        let y = self.regs.get(DR) & 0x00FF_0000;
        self.regs.set_bits(ISR, INITS, y != 0);
    }
}

impl Device for Rtc {
    fn name(&self) -> &str {
        "RTC"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let (tr, dr, ss) = self.calendar(ctx.now);
        let word = match offset & !3 {
            TR => tr,
            DR => dr,
            SSR => ss,
            o => self.regs.read(o, Size::Word).unwrap_or(0),
        };
        let v = crate::device::extract(offset, size, word);
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.name_at(offset), val = v, "read");
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        let reg = offset & !3;
        if reg == WPR {
            let key = crate::device::lanes(offset, size, value).1 & 0xFF;
            self.wpr = match (self.wpr, key) {
                (0, 0xCA) => 1,
                (1, 0x53) => 2,
                _ => 0,
            };
            return Ok(());
        }
        if self.protected(reg) {
            guest_error("RTC", ctx.now, "write while write-protected (ignored)");
            return Ok(());
        }
        if (reg == TR || reg == DR || reg == PRER) && !self.regs.bit(ISR, INITF) {
            guest_error(
                "RTC",
                ctx.now,
                "calendar/prescaler write outside init mode (ignored)",
            );
            return Ok(());
        }
        let locked = match reg {
            ALRMAR => self.regs.get(CR) & CR_ALRAE != 0 && !self.regs.bit(ISR, INITF),
            ALRMBR => self.regs.get(CR) & CR_ALRBE != 0 && !self.regs.bit(ISR, INITF),
            WUTR => self.regs.get(CR) & CR_WUTE != 0 && !self.regs.bit(ISR, INITF),
            _ => false,
        };
        if locked {
            guest_error(
                "RTC",
                ctx.now,
                "alarm/wakeup register write while its enable is set (ignored)",
            );
            return Ok(());
        }
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        match reg {
            ISR => {
                // INIT needs the unlocked WPR like the rest of the control bits.
                if self.wpr != 2 && (w.old ^ w.new) & INIT != 0 {
                    guest_error("RTC", ctx.now, "ISR.INIT while write-protected (ignored)");
                    self.regs.set_bits(ISR, INIT, w.old & INIT != 0);
                }
                let isr = self.regs.get(ISR);
                match (w.old & INIT != 0, isr & INIT != 0) {
                    (false, true) => {
                        // Enter init mode: freeze the calendar where it is.
                        let (tr, dr, _) = self.calendar(ctx.now);
                        self.regs.set(TR, tr);
                        self.regs.set(DR, dr);
                        self.running = false;
                        self.regs.set_bits(ISR, RSF, false);
                        let at = ctx.now + self.rtcclk_cycles(ctx, 2);
                        ctx.schedule(TOKEN_INITF, at);
                    }
                    (true, false) => {
                        self.regs.set_bits(ISR, INITF, false);
                        ctx.cancel(TOKEN_INITF);
                        self.running = true;
                        self.ticks = 0;
                        self.anchor = ctx.now;
                        self.clk = ctx.clocks;
                        let at = ctx.now + self.rtcclk_cycles(ctx, 2);
                        ctx.schedule(TOKEN_RSF, at);
                    }
                    _ => {}
                }
                if isr & (RSF | INIT) == 0 {
                    let at = ctx.now + self.rtcclk_cycles(ctx, 2);
                    ctx.schedule(TOKEN_RSF, at);
                }
                if (w.old ^ w.new) & INIT != 0 {
                    self.schedule_alarms(ctx);
                }
                self.update_lines(ctx);
            }
            CR => {
                let changed = w.old ^ w.new;
                if changed & CR_WUTE != 0 {
                    self.wut_next = if w.new & CR_WUTE != 0 {
                        Some(self.abs_now(ctx.now) + self.wakeup_period())
                    } else {
                        None
                    };
                    self.schedule_wakeup(ctx);
                }
                if changed & (CR_ALRAE | CR_ALRBE) != 0 {
                    self.schedule_alarms(ctx);
                }
                self.update_write_flags();
                self.update_lines(ctx);
            }
            ALRMAR => self.schedule_alarm(ctx, false),
            ALRMBR => self.schedule_alarm(ctx, true),
            TR => self.regs.set(TR, w.new & 0x007F_7F7F),
            DR => {
                self.regs.set(DR, w.new & 0x00FF_FF3F);
                self.update_inits();
            }
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        match token {
            TOKEN_INITF if self.regs.bit(ISR, INIT) => self.regs.set_bits(ISR, INITF, true),
            TOKEN_RSF if !self.regs.bit(ISR, INIT) => self.regs.set_bits(ISR, RSF, true),
            TOKEN_WUT => {
                if let Some(t) = self.wut_next {
                    self.regs.set_bits(ISR, WUTF, true);
                    tracing::debug!(target: T, t = ctx.now, "wakeup timer: WUTF");
                    self.wut_next = Some(t + self.wakeup_period());
                    self.schedule_wakeup(ctx);
                    self.update_lines(ctx);
                }
            }
            TOKEN_ALRA | TOKEN_ALRB => {
                let b = token == TOKEN_ALRB;
                self.regs.set_bits(ISR, if b { ALRBF } else { ALRAF }, true);
                tracing::debug!(target: T, t = ctx.now, alarm = if b { "B" } else { "A" }, "alarm");
                // Next occurrence, one second on at the earliest.
                self.schedule_alarm(ctx, b);
                self.update_lines(ctx);
            }
            _ => {}
        }
    }

    fn clocks_changed(&mut self, ctx: &mut Ctx) {
        self.ticks = self.ticks_now(ctx.now);
        self.anchor = ctx.now;
        self.abs_ticks = self.abs_now(ctx.now);
        self.abs_anchor = ctx.now;
        self.clk = ctx.clocks;
        self.schedule_wakeup(ctx);
        self.schedule_alarms(ctx);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        // Backup domain: only the write protection comes back. The time before the
        // reset ran on the old clock tree, the time after on the reset one; the
        // machine dropped every scheduled event, so wakeup and alarms are re-armed.
        self.wpr = 0;
        self.clocks_changed(ctx);
        self.alarm_line = false;
        self.wakeup_line = false;
        self.update_lines(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;

    fn rtc() -> FakeBus<Rtc> {
        FakeBus::new(Rtc::new(32_768), Clocks::RESET)
    }

    fn secs(b: &FakeBus<Rtc>, n: u64) -> u64 {
        b.clocks.to_cycles(n, 1)
    }

    /// rtc_init_finalise's sequence, then HAL_RTC_SetDate/SetTime.
    #[test]
    fn init_sequence_and_calendar() {
        let mut b = rtc();
        assert_eq!(b.read32(ISR), 0x7);
        assert_eq!(b.read32(DR), 0x2101);
        assert_eq!(b.read32(PRER), 0x007F_00FF);
        b.write32(ISR, 0xFFFF_FFFF); // protected: ignored
        assert_eq!(b.read32(ISR) & INIT, 0);
        b.write32(WPR, 0xCA);
        b.write32(WPR, 0x53);
        b.write32(ISR, 0xFFFF_FFFF);
        assert_eq!(b.read32(ISR) & (INIT | INITF), INIT);
        b.advance(b.clocks.to_cycles(2, 32_768));
        assert_eq!(b.read32(ISR) & INITF, INITF);
        b.write32(PRER, 0xFF);
        b.write32(PRER, 0x7F_00FF);
        b.write32(DR, 0x0015_8131); // 2015-01-31, weekday 4 as written
        b.write32(TR, 0x0023_5958); // 23:59:58
        b.write32(ISR, !INIT & 0xFFFF);
        assert_eq!(b.read32(ISR) & (INIT | INITF | INITS), INITS);
        // RSF wait: cleared, back two RTCCLK periods later.
        b.write32(ISR, 0xFFFF_FF5F); // HAL: ISR = ~(RSF | INIT)
        assert_eq!(b.read32(ISR) & RSF, 0);
        b.advance(b.clocks.to_cycles(2, 32_768));
        assert_eq!(b.read32(ISR) & RSF, RSF);
        b.write32(WPR, 0xFF);
        b.advance(secs(&b, 3));
        assert_eq!(b.read32(TR), 0x0000_0001);
        assert_eq!(b.read32(DR), 0x0015_A201, "2015-02-01, weekday 5");
        // Leap year: 2016-02-28 → 29.
        b.write32(WPR, 0xCA);
        b.write32(WPR, 0x53);
        b.write32(ISR, INIT);
        b.advance(b.clocks.to_cycles(2, 32_768));
        b.write32(DR, 0x0016_0228);
        b.write32(TR, 0x0023_5959);
        b.write32(ISR, 0);
        b.advance(secs(&b, 1));
        assert_eq!(b.read32(DR) & 0x00FF_1F3F, 0x0016_0229);
    }

    #[test]
    fn backup_registers_survive_a_system_reset() {
        let mut b = rtc();
        b.write32(BKP0R + 19 * 4, 0x1234);
        assert_eq!(b.read32(BKP0R + 19 * 4), 0x1234);
        b.with(|d, ctx| d.reset(ctx));
        assert_eq!(b.dev.backup(19), 0x1234);
        b.with(|d, ctx| d.backup_domain_reset(ctx));
        assert_eq!(b.dev.backup(19), 0);
    }

    #[test]
    fn subseconds_count_down() {
        let mut b = rtc();
        assert_eq!(b.read32(SSR), 0xFF);
        b.advance(b.clocks.to_cycles(128 * 10, 32_768));
        assert_eq!(b.read32(SSR), 0xFF - 10);
    }

    fn unlock(b: &mut FakeBus<Rtc>) {
        b.write32(WPR, 0xCA);
        b.write32(WPR, 0x53);
    }

    fn exti_edges(b: &mut FakeBus<Rtc>, line: u8) -> Vec<(u64, bool)> {
        b.take_log()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Effect::ExtiLine { line: l, level } if l == line => Some((t, level)),
                _ => None,
            })
            .collect()
    }

    /// pyb.RTC().wakeup(1000): RTCCLK/16 with WUTR = 2047 is one second per WUTF.
    #[test]
    fn wakeup_timer_period_flag_and_exti_line() {
        let mut b = rtc();
        unlock(&mut b);
        assert_eq!(b.read32(ISR) & WUTWF, WUTWF);
        b.write32(WUTR, 2047);
        b.write32(CR, CR_WUTIE | CR_WUTE); // WUCKSEL = 000: RTCCLK / 16
        assert_eq!(b.read32(ISR) & WUTWF, 0);
        b.write32(WUTR, 5); // refused while WUTE is set
        assert_eq!(b.read32(WUTR), 2047);
        let one_s = b.clocks.to_cycles(32_768, 32_768);
        b.take_log();
        b.advance(one_s - 1);
        assert_eq!(b.read32(ISR) & WUTF, 0);
        b.advance(1);
        assert_eq!(b.read32(ISR) & WUTF, WUTF);
        assert_eq!(exti_edges(&mut b, EXTI_WAKEUP), vec![(one_s, true)]);
        // The handler clears WUTF (rc_w0): the line falls; the next one a second later.
        b.write32(ISR, !(WUTF | INIT) & 0xFFFF);
        assert_eq!(b.read32(ISR) & WUTF, 0);
        assert_eq!(exti_edges(&mut b, EXTI_WAKEUP), vec![(one_s, false)]);
        b.advance(one_s);
        assert_eq!(exti_edges(&mut b, EXTI_WAKEUP), vec![(2 * one_s, true)]);
        // ck_spre: WUCKSEL = 100, WUTR = 4 -> 5 s.
        b.write32(CR, 0);
        b.write32(ISR, !(WUTF | INIT) & 0xFFFF);
        b.write32(WUTR, 4);
        b.write32(CR, CR_WUTE | 4);
        let t0 = b.now;
        b.take_log();
        b.advance(5 * one_s);
        assert_eq!(b.read32(ISR) & WUTF, WUTF);
        assert_eq!(b.now, t0 + 5 * one_s);
        // No WUTIE: the flag rises but the line stays low.
        assert!(exti_edges(&mut b, EXTI_WAKEUP).is_empty());
    }

    #[test]
    fn alarm_a_matches_seconds_and_b_every_minute() {
        let mut b = rtc();
        unlock(&mut b);
        b.write32(ISR, INIT);
        b.advance(b.clocks.to_cycles(2, 32_768));
        b.write32(DR, 0x0024_1231); // 2024-12-31
        b.write32(TR, 0x0023_5950); // 23:59:50
        b.write32(ISR, 0);
        let t0 = b.now;
        let sec = b.clocks.to_cycles(32_768, 32_768);
        // Alarm A: 00:00:05 on the 1st (date match: the next day).
        b.write32(ALRMAR, 0x0100_0005);
        // Alarm B: second 30 of every minute (MSK4, MSK3, MSK2 set).
        b.write32(ALRMBR, 0x8080_8030);
        b.write32(CR, CR_ALRAE | CR_ALRAIE | CR_ALRBE);
        assert_eq!(b.read32(ISR) & (ALRAWF | ALRBWF), 0);
        b.take_log();
        b.advance_to(t0 + 15 * sec - 1);
        assert_eq!(b.read32(ISR) & ALRAF, 0);
        b.advance(1);
        assert_eq!(b.read32(ISR) & ALRAF, ALRAF);
        assert_eq!(b.read32(DR) & 0xFF_1F3F, 0x0025_0101);
        assert_eq!(exti_edges(&mut b, EXTI_ALARM), vec![(t0 + 15 * sec, true)]);
        // B at 00:00:30 (no ALRBIE: flag only).
        b.advance_to(t0 + 40 * sec - 1);
        assert_eq!(b.read32(ISR) & ALRBF, 0);
        b.advance(1);
        assert_eq!(b.read32(ISR) & ALRBF, ALRBF);
        b.write32(ISR, !(ALRBF | INIT) & 0xFFFF);
        b.advance_to(t0 + 100 * sec);
        assert_eq!(b.read32(ISR) & ALRBF, ALRBF, "again at 00:01:30");
    }

    #[test]
    fn alarm_fields_that_can_never_match_give_no_alarm() {
        let tr = 0x0012_0000;
        let dr = 0x0024_A101; // 2024-01-01, a Monday (weekday 5 as written here)
        assert_eq!(Rtc::alarm_delay(tr, dr, 0x8080_807F), None, "second 0x7F");
        assert_eq!(Rtc::alarm_delay(tr, dr, 0x8029_8080), None, "hour 29");
        assert_eq!(Rtc::alarm_delay(tr, dr, 0x0080_8080), None, "date 0");
        assert_eq!(Rtc::alarm_delay(tr, dr, 0x4880_8080), None, "weekday 8");
        // With WDSEL the DT bits are ignored: 0x7 in DU is weekday 7 (two days on).
        assert_eq!(
            Rtc::alarm_delay(tr, dr, 0x7780_8080),
            Some(2 * 86_400 - 12 * 3600)
        );
        assert_eq!(
            Rtc::alarm_delay(tr, dr, 0x8080_8030),
            Some(30),
            "every minute at :30"
        );
    }
}
