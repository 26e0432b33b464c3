//! RCC, reset and clock control (RM0090 §7, STM32F405/407 register map §7.3).
//!
//! Modelled:
//! - HSI, HSE, LSI, LSE, main PLL and PLLI2S on/ready: a ready flag rises a realistic
//!   virtual delay after its ON bit is set ([`RccTiming`], datasheet typical start-up
//!   times; the LSE as the Pyboard's crystal starts) and falls at once when the ON bit
//!   is cleared. The PLL locks only once its source is ready. An oscillator used (directly or through the PLL) as SYSCLK cannot be
//!   switched off, as RM0090 says.
//! - CFGR: SW with SWS following it once the selected source is ready (the switch waits
//!   for the source otherwise), HPRE, PPRE1, PPRE2; PLLCFGR M, N, P, Q, PLLSRC.
//! - The clock tree ([`Clocks`]) is derived after every change and pushed as
//!   [`Effect::Clocks`] when it differs: SYSCLK from HSI (16 MHz), HSE (board parameter)
//!   or the PLL; APB timer clocks doubled when their APB prescaler is not 1; PLL48CK =
//!   VCO / Q.
//! - CIR ready interrupt flags, enables and clear bits, on the RCC line (IRQ 5).
//! - AHBxENR/APBxENR/AHBxRSTR/APBxRSTR/LPENR stored with their reset values; newly
//!   asserted reset bits are handed to the machine by [`Rcc::take_resets`].
//! - CSR: LSION/LSIRDY, reset flags set by [`Rcc::set_reset_cause`], RMVF clears them.
//!   A system reset ([`Device::reset`]) keeps the reset flags and the backup domain
//!   (BDCR), as on silicon; [`Rcc::power_on_reset`] resets everything.
//! - BDCR: LSEON/LSERDY, LSEBYP, RTCSEL (settable once until BDRST), RTCEN, BDRST;
//!   write-protected while PWR_CR.DBP is 0 once the machine wires DBP in with
//!   [`Rcc::set_dbp`] (not wired: writable).
//!
//! Not modelled:
//! - Clock security system (CSSON stored, no HSE failure), MCO1/MCO2 outputs, I2SSRC,
//!   RTCPRE (stored), spread spectrum (SSCGR stored), HSI trimming.
//! - Low-power clock gating (LPENR stored only); the ENR bits do not gate the other
//!   models (the machine may use [`Rcc::enabled`]).

use crate::device::{BusError, Clocks, Ctx, Device, Effect, Size};
use crate::regs::{f, guest_error, unmodelled, Access::*, Block, Reg};

const T: &str = "periph::rcc";

/// RCC global interrupt line.
pub const IRQ_RCC: u16 = 5;

pub const CR: u32 = 0x00;
pub const PLLCFGR: u32 = 0x04;
pub const CFGR: u32 = 0x08;
pub const CIR: u32 = 0x0C;
pub const AHB1RSTR: u32 = 0x10;
pub const AHB2RSTR: u32 = 0x14;
pub const AHB3RSTR: u32 = 0x18;
pub const APB1RSTR: u32 = 0x20;
pub const APB2RSTR: u32 = 0x24;
pub const AHB1ENR: u32 = 0x30;
pub const AHB2ENR: u32 = 0x34;
pub const AHB3ENR: u32 = 0x38;
pub const APB1ENR: u32 = 0x40;
pub const APB2ENR: u32 = 0x44;
pub const AHB1LPENR: u32 = 0x50;
pub const AHB2LPENR: u32 = 0x54;
pub const AHB3LPENR: u32 = 0x58;
pub const APB1LPENR: u32 = 0x60;
pub const APB2LPENR: u32 = 0x64;
pub const BDCR: u32 = 0x70;
pub const CSR: u32 = 0x74;
pub const SSCGR: u32 = 0x80;
pub const PLLI2SCFGR: u32 = 0x84;

// CR bits.
const HSION: u32 = 1 << 0;
const HSIRDY: u32 = 1 << 1;
const HSEON: u32 = 1 << 16;
const HSERDY: u32 = 1 << 17;
const PLLON: u32 = 1 << 24;
const PLLRDY: u32 = 1 << 25;
const PLLI2SON: u32 = 1 << 26;
const PLLI2SRDY: u32 = 1 << 27;
// CSR bits.
const LSION: u32 = 1 << 0;
const LSIRDY: u32 = 1 << 1;
const RMVF: u32 = 1 << 24;
const RESET_FLAGS: u32 = 0xFE00_0000;
// BDCR bits.
const LSEON: u32 = 1 << 0;
const LSERDY: u32 = 1 << 1;
const RTCSEL: u32 = 3 << 8;
const BDRST: u32 = 1 << 16;

const ENR_AHB1: &[crate::regs::Field] = &[
    f("GPIOxEN", 0, 9, Rw),
    f("CRCEN", 12, 1, Rw),
    f("BKPSRAMEN", 18, 1, Rw),
    f("CCMDATARAMEN", 20, 1, Rw),
    f("DMAxEN", 21, 2, Rw),
    f("ETHMACxEN", 25, 4, Rw),
    f("OTGHSxEN", 29, 2, Rw),
];
const RSTR_AHB1: &[crate::regs::Field] = &[
    f("GPIOxRST", 0, 9, Rw),
    f("CRCRST", 12, 1, Rw),
    f("DMAxRST", 21, 2, Rw),
    f("ETHMACRST", 25, 1, Rw),
    f("OTGHSRST", 29, 1, Rw),
];
const AHB2: &[crate::regs::Field] = &[
    f("DCMI", 0, 1, Rw),
    f("CRYP", 4, 1, Rw),
    f("HASH", 5, 1, Rw),
    f("RNG", 6, 1, Rw),
    f("OTGFS", 7, 1, Rw),
];
const AHB3: &[crate::regs::Field] = &[f("FSMC", 0, 1, Rw)];
const APB1: &[crate::regs::Field] = &[
    f("TIMx", 0, 9, Rw),
    f("WWDG", 11, 1, Rw),
    f("SPI2", 14, 1, Rw),
    f("SPI3", 15, 1, Rw),
    f("USART2_3", 17, 2, Rw),
    f("UART4_5", 19, 2, Rw),
    f("I2C1_3", 21, 3, Rw),
    f("CAN1_2", 25, 2, Rw),
    f("PWR", 28, 1, Rw),
    f("DAC", 29, 1, Rw),
];
const APB2: &[crate::regs::Field] = &[
    f("TIM1", 0, 1, Rw),
    f("TIM8", 1, 1, Rw),
    f("USART1", 4, 1, Rw),
    f("USART6", 5, 1, Rw),
    f("ADC", 8, 3, Rw),
    f("SDIO", 11, 1, Rw),
    f("SPI1", 12, 1, Rw),
    f("SYSCFG", 14, 1, Rw),
    f("TIM9_11", 16, 3, Rw),
];
const LPENR: &[crate::regs::Field] = &[unmodelled("xLPEN", 0, 32, Rw)];

/// The RCC register table (RM0090 §7.3.24, reset values as printed there; HSICAL reads 0).
pub const REGS: &[Reg] = &[
    Reg {
        offset: CR,
        name: "CR",
        reset: 0x0000_0083,
        fields: &[
            f("HSION", 0, 1, Rw),
            f("HSIRDY", 1, 1, R),
            unmodelled("HSITRIM", 3, 5, Rw),
            f("HSICAL", 8, 8, R),
            f("HSEON", 16, 1, Rw),
            f("HSERDY", 17, 1, R),
            f("HSEBYP", 18, 1, Rw),
            unmodelled("CSSON", 19, 1, Rw),
            f("PLLON", 24, 1, Rw),
            f("PLLRDY", 25, 1, R),
            f("PLLI2SON", 26, 1, Rw),
            f("PLLI2SRDY", 27, 1, R),
        ],
    },
    Reg {
        offset: PLLCFGR,
        name: "PLLCFGR",
        reset: 0x2400_3010,
        fields: &[
            f("PLLM", 0, 6, Rw),
            f("PLLN", 6, 9, Rw),
            f("PLLP", 16, 2, Rw),
            f("PLLSRC", 22, 1, Rw),
            f("PLLQ", 24, 4, Rw),
        ],
    },
    Reg {
        offset: CFGR,
        name: "CFGR",
        reset: 0,
        fields: &[
            f("SW", 0, 2, Rw),
            f("SWS", 2, 2, R),
            f("HPRE", 4, 4, Rw),
            f("PPRE1", 10, 3, Rw),
            f("PPRE2", 13, 3, Rw),
            f("RTCPRE", 16, 5, Rw),
            unmodelled("MCO1", 21, 2, Rw),
            unmodelled("I2SSRC", 23, 1, Rw),
            unmodelled("MCO1PRE", 24, 3, Rw),
            unmodelled("MCO2PRE", 27, 3, Rw),
            unmodelled("MCO2", 30, 2, Rw),
        ],
    },
    Reg {
        offset: CIR,
        name: "CIR",
        reset: 0,
        fields: &[
            f("xRDYF", 0, 6, R),
            f("CSSF", 7, 1, R),
            f("xRDYIE", 8, 6, Rw),
            f("xRDYC", 16, 6, W),
            f("CSSC", 23, 1, W),
        ],
    },
    Reg {
        offset: AHB1RSTR,
        name: "AHB1RSTR",
        reset: 0,
        fields: RSTR_AHB1,
    },
    Reg {
        offset: AHB2RSTR,
        name: "AHB2RSTR",
        reset: 0,
        fields: AHB2,
    },
    Reg {
        offset: AHB3RSTR,
        name: "AHB3RSTR",
        reset: 0,
        fields: AHB3,
    },
    Reg {
        offset: APB1RSTR,
        name: "APB1RSTR",
        reset: 0,
        fields: APB1,
    },
    Reg {
        offset: APB2RSTR,
        name: "APB2RSTR",
        reset: 0,
        fields: APB2,
    },
    Reg {
        offset: AHB1ENR,
        name: "AHB1ENR",
        reset: 0x0010_0000,
        fields: ENR_AHB1,
    },
    Reg {
        offset: AHB2ENR,
        name: "AHB2ENR",
        reset: 0,
        fields: AHB2,
    },
    Reg {
        offset: AHB3ENR,
        name: "AHB3ENR",
        reset: 0,
        fields: AHB3,
    },
    Reg {
        offset: APB1ENR,
        name: "APB1ENR",
        reset: 0,
        fields: APB1,
    },
    Reg {
        offset: APB2ENR,
        name: "APB2ENR",
        reset: 0,
        fields: APB2,
    },
    Reg {
        offset: AHB1LPENR,
        name: "AHB1LPENR",
        reset: 0x7E67_91FF,
        fields: LPENR,
    },
    Reg {
        offset: AHB2LPENR,
        name: "AHB2LPENR",
        reset: 0x0000_00F1,
        fields: LPENR,
    },
    Reg {
        offset: AHB3LPENR,
        name: "AHB3LPENR",
        reset: 0x0000_0001,
        fields: LPENR,
    },
    Reg {
        offset: APB1LPENR,
        name: "APB1LPENR",
        reset: 0x36FE_C9FF,
        fields: LPENR,
    },
    Reg {
        offset: APB2LPENR,
        name: "APB2LPENR",
        reset: 0x0007_5F33,
        fields: LPENR,
    },
    Reg {
        offset: BDCR,
        name: "BDCR",
        reset: 0,
        fields: &[
            f("LSEON", 0, 1, Rw),
            f("LSERDY", 1, 1, R),
            f("LSEBYP", 2, 1, Rw),
            f("RTCSEL", 8, 2, Rw),
            f("RTCEN", 15, 1, Rw),
            f("BDRST", 16, 1, Rw),
        ],
    },
    Reg {
        offset: CSR,
        name: "CSR",
        reset: 0x0E00_0000,
        fields: &[
            f("LSION", 0, 1, Rw),
            f("LSIRDY", 1, 1, R),
            f("RMVF", 24, 1, W),
            f("RSTF", 25, 7, R),
        ],
    },
    Reg {
        offset: SSCGR,
        name: "SSCGR",
        reset: 0,
        fields: &[
            unmodelled("MODPER", 0, 13, Rw),
            unmodelled("INCSTEP", 13, 15, Rw),
            unmodelled("SPREADSEL", 30, 1, Rw),
            unmodelled("SSCGEN", 31, 1, Rw),
        ],
    },
    Reg {
        offset: PLLI2SCFGR,
        name: "PLLI2SCFGR",
        reset: 0x2000_3000,
        fields: &[f("PLLI2SN", 6, 9, Rw), f("PLLI2SR", 28, 3, Rw)],
    },
];

/// Start-up times of the clock sources, in microseconds of virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RccTiming {
    pub hsi_us: u64,
    pub hse_us: u64,
    pub pll_us: u64,
    pub plli2s_us: u64,
    pub lsi_us: u64,
    pub lse_us: u64,
}

impl Default for RccTiming {
    /// Typical values of the STM32F405 datasheet: tsu(HSI) 2 µs, tsu(HSE) 2 ms, PLL lock
    /// 100 µs, tsu(LSI) 15 µs; for the LSE, [`RccTiming::PYBOARD_LSE_US`] (the datasheet's
    /// 2 s is for the worst crystals).
    fn default() -> Self {
        RccTiming {
            hsi_us: 2,
            hse_us: 2_000,
            pll_us: 100,
            plli2s_us: 100,
            lsi_us: 15,
            lse_us: Self::PYBOARD_LSE_US,
        }
    }
}

impl RccTiming {
    /// LSE start-up of the Pyboard's 32.768 kHz crystal: 600 ms. The datasheet gives
    /// tsu(LSE) = 2 s typical, but MicroPython's maintainers require every Pyboard they
    /// test to start within 620 ms, and the official firmware gives the LSE only 1 s
    /// (`MICROPY_HW_RTC_LSE_TIMEOUT_MS`) before it falls back to the LSI; with 2 s an
    /// RTC first used within 2 s of reset would end up on the LSI, which a real board
    /// does not do.
    pub const PYBOARD_LSE_US: u64 = 600_000;
    /// The datasheet's typical LSE start-up (DS8626, tsu(LSE)).
    pub const DATASHEET_LSE_US: u64 = 2_000_000;
}

/// Why the chip last reset, for the CSR flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCause {
    /// Power-on: PORRSTF, BORRSTF and PINRSTF (the CSR reset value).
    PowerOn,
    /// NRST pin: PINRSTF.
    Pin,
    /// Software reset (AIRCR.SYSRESETREQ): SFTRSTF and PINRSTF (an internal reset drives
    /// NRST low).
    Software,
    /// Independent watchdog: IWDGRSTF and PINRSTF.
    Iwdg,
    /// Window watchdog: WWDGRSTF and PINRSTF.
    Wwdg,
    /// Low-power management reset: LPWRRSTF and PINRSTF.
    LowPower,
}

/// A bus whose peripherals RCC resets and clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RccBus {
    Ahb1,
    Ahb2,
    Ahb3,
    Apb1,
    Apb2,
}

impl RccBus {
    fn rstr(self) -> u32 {
        match self {
            RccBus::Ahb1 => AHB1RSTR,
            RccBus::Ahb2 => AHB2RSTR,
            RccBus::Ahb3 => AHB3RSTR,
            RccBus::Apb1 => APB1RSTR,
            RccBus::Apb2 => APB2RSTR,
        }
    }
    fn enr(self) -> u32 {
        self.rstr() + 0x20
    }
}

/// The clock sources, also the event tokens of their ready flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Osc {
    Hsi = 0,
    Hse = 1,
    Pll = 2,
    PllI2s = 3,
    Lsi = 4,
    Lse = 5,
}

const OSCS: [Osc; 6] = [
    Osc::Hsi,
    Osc::Hse,
    Osc::Pll,
    Osc::PllI2s,
    Osc::Lsi,
    Osc::Lse,
];

impl Osc {
    /// (register, ON bit, RDY bit)
    fn bits(self) -> (u32, u32, u32) {
        match self {
            Osc::Hsi => (CR, HSION, HSIRDY),
            Osc::Hse => (CR, HSEON, HSERDY),
            Osc::Pll => (CR, PLLON, PLLRDY),
            Osc::PllI2s => (CR, PLLI2SON, PLLI2SRDY),
            Osc::Lsi => (CSR, LSION, LSIRDY),
            Osc::Lse => (BDCR, LSEON, LSERDY),
        }
    }
    /// Bit of the flag in CIR (xRDYF; IE is 8 above, C 16 above).
    fn cir_bit(self) -> u32 {
        match self {
            Osc::Lsi => 1 << 0,
            Osc::Lse => 1 << 1,
            Osc::Hsi => 1 << 2,
            Osc::Hse => 1 << 3,
            Osc::Pll => 1 << 4,
            Osc::PllI2s => 1 << 5,
        }
    }
}

/// The RCC block.
pub struct Rcc {
    regs: Block,
    hse_hz: u32,
    timing: RccTiming,
    /// The clock tree last pushed.
    clocks: Clocks,
    /// PWR_CR.DBP as wired by the machine; `None` when not wired (backup domain writable).
    dbp: Option<bool>,
    /// Oscillators whose ready event is pending.
    starting: u8,
    /// Reset bits newly asserted, per bus, not yet taken by the machine.
    resets: Vec<(RccBus, u32)>,
    irq: bool,
}

impl Rcc {
    /// An RCC fed by a `hse_hz` crystal (12 MHz on the Pyboard), in its power-on state.
    pub fn new(hse_hz: u32) -> Rcc {
        Rcc {
            regs: Block::new("RCC", REGS),
            hse_hz,
            timing: RccTiming::default(),
            clocks: Clocks::RESET,
            dbp: None,
            starting: 0,
            resets: Vec::new(),
            irq: false,
        }
    }

    /// Replaces the start-up times (e.g. a faster LSE for tests).
    pub fn with_timing(mut self, timing: RccTiming) -> Rcc {
        self.timing = timing;
        self
    }

    /// The clock tree as the registers define it now.
    pub fn clocks(&self) -> Clocks {
        self.clocks
    }

    /// Wires PWR_CR.DBP in: while false, BDCR writes are ignored.
    pub fn set_dbp(&mut self, on: bool) {
        self.dbp = Some(on);
    }

    /// Sets the CSR reset flags for the reset that just happened (call after
    /// [`Device::reset`] or [`Rcc::power_on_reset`]).
    pub fn set_reset_cause(&mut self, cause: ResetCause) {
        const PIN: u32 = 1 << 26;
        let flags = match cause {
            ResetCause::PowerOn => (1 << 25) | PIN | (1 << 27),
            ResetCause::Pin => PIN,
            ResetCause::Software => (1 << 28) | PIN,
            ResetCause::Iwdg => (1 << 29) | PIN,
            ResetCause::Wwdg => (1 << 30) | PIN,
            ResetCause::LowPower => (1 << 31) | PIN,
        };
        let v = self.regs.get(CSR);
        self.regs.set(CSR, v | flags);
    }

    /// Power-on reset: everything, backup domain and reset flags included, to reset values.
    pub fn power_on_reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.system_reset(ctx);
    }

    /// Whether the clock of peripheral bit `bit` on `bus` is enabled (xxxENR).
    pub fn enabled(&self, bus: RccBus, bit: u8) -> bool {
        self.regs.get(bus.enr()) & (1 << bit) != 0
    }

    /// Whether peripheral bit `bit` on `bus` is held in reset (xxxRSTR).
    pub fn in_reset(&self, bus: RccBus, bit: u8) -> bool {
        self.regs.get(bus.rstr()) & (1 << bit) != 0
    }

    /// Reset bits asserted since the last call, per bus (the machine resets those
    /// peripherals).
    pub fn take_resets(&mut self) -> Vec<(RccBus, u32)> {
        std::mem::take(&mut self.resets)
    }

    fn system_reset(&mut self, ctx: &mut Ctx) {
        // Backup domain and reset flags survive a system reset.
        let bdcr = self.regs.get(BDCR);
        let flags = self.regs.get(CSR) & RESET_FLAGS;
        self.regs.reset();
        self.regs.set(BDCR, bdcr);
        self.regs
            .set(CSR, (self.regs.get(CSR) & !RESET_FLAGS) | flags);
        for o in OSCS {
            ctx.cancel(o as u32);
        }
        self.starting = 0;
        self.resets.clear();
        // The LSE keeps running through a system reset; restart it if it was starting.
        if bdcr & LSEON != 0 && bdcr & LSERDY == 0 {
            self.start(ctx, Osc::Lse);
        }
        self.irq = false;
        ctx.irq(IRQ_RCC, false);
        self.clocks = self.derive();
        ctx.push(Effect::Clocks(self.clocks));
    }

    fn delay_us(&self, o: Osc) -> u64 {
        let t = &self.timing;
        match o {
            Osc::Hsi => t.hsi_us,
            Osc::Hse => t.hse_us,
            Osc::Pll => t.pll_us,
            Osc::PllI2s => t.plli2s_us,
            Osc::Lsi => t.lsi_us,
            Osc::Lse => t.lse_us,
        }
    }

    fn ready(&self, o: Osc) -> bool {
        let (reg, _, rdy) = o.bits();
        self.regs.bit(reg, rdy)
    }

    fn start(&mut self, ctx: &mut Ctx, o: Osc) {
        let at = ctx.now + ctx.clocks.to_cycles(self.delay_us(o), 1_000_000);
        self.starting |= 1 << o as u8;
        ctx.schedule(o as u32, at);
    }

    fn stop(&mut self, ctx: &mut Ctx, o: Osc) {
        let (reg, _, rdy) = o.bits();
        self.regs.set_bits(reg, rdy, false);
        if self.starting & (1 << o as u8) != 0 {
            self.starting &= !(1 << o as u8);
            ctx.cancel(o as u32);
        }
    }

    /// Source of the main PLL: HSE when PLLSRC is set.
    fn pll_src_hse(&self) -> bool {
        self.regs.get(PLLCFGR) & (1 << 22) != 0
    }

    /// SYSCLK source in use (SWS).
    fn sws(&self) -> u32 {
        (self.regs.get(CFGR) >> 2) & 3
    }

    /// Oscillators that SYSCLK depends on now (bit per Osc).
    fn in_use(&self) -> u8 {
        match self.sws() {
            1 => 1 << Osc::Hse as u8,
            2 => {
                let src = if self.pll_src_hse() {
                    Osc::Hse
                } else {
                    Osc::Hsi
                };
                (1 << Osc::Pll as u8) | (1 << src as u8)
            }
            _ => 1 << Osc::Hsi as u8,
        }
    }

    /// Applies SW to SWS if the selected source is ready.
    fn try_switch(&mut self) {
        let cfgr = self.regs.get(CFGR);
        let sw = cfgr & 3;
        let ready = match sw {
            0 => self.ready(Osc::Hsi),
            1 => self.ready(Osc::Hse),
            2 => self.ready(Osc::Pll),
            _ => false,
        };
        if ready && self.sws() != sw {
            self.regs.set(CFGR, (cfgr & !0xC) | (sw << 2));
        }
    }

    fn pll_vco(&self) -> u64 {
        let c = self.regs.get(PLLCFGR);
        let m = (c & 0x3F).max(1) as u64;
        let n = ((c >> 6) & 0x1FF) as u64;
        let src = if self.pll_src_hse() {
            self.hse_hz
        } else {
            16_000_000
        } as u64;
        src * n / m
    }

    fn derive(&self) -> Clocks {
        let c = self.regs.get(PLLCFGR);
        let sysclk = match self.sws() {
            1 => self.hse_hz as u64,
            2 => self.pll_vco() / (2 * (((c >> 16) & 3) as u64 + 1)),
            _ => 16_000_000,
        };
        let cfgr = self.regs.get(CFGR);
        let hpre = (cfgr >> 4) & 0xF;
        let hdiv: u64 = if hpre < 8 {
            1
        } else {
            [2, 4, 8, 16, 64, 128, 256, 512][(hpre - 8) as usize]
        };
        let apb = |p: u32| -> u64 {
            if p < 4 {
                1
            } else {
                2 << (p - 4)
            }
        };
        let (d1, d2) = (apb((cfgr >> 10) & 7), apb((cfgr >> 13) & 7));
        let hclk = sysclk / hdiv;
        let (p1, p2) = (hclk / d1, hclk / d2);
        let tim = |p: u64, d: u64| if d == 1 { p } else { 2 * p };
        let q = ((c >> 24) & 0xF) as u64;
        let pll48 = if self.ready(Osc::Pll) && q >= 2 {
            self.pll_vco() / q
        } else {
            0
        };
        let sat = |v: u64| v.min(u32::MAX as u64) as u32;
        Clocks {
            sysclk: sat(sysclk),
            hclk: sat(hclk),
            pclk1: sat(p1),
            pclk2: sat(p2),
            tim_apb1: sat(tim(p1, d1)),
            tim_apb2: sat(tim(p2, d2)),
            pll48: sat(pll48),
        }
    }

    /// Re-derives the clock tree and pushes it if it changed; updates the IRQ line.
    fn update(&mut self, ctx: &mut Ctx) {
        self.try_switch();
        let c = self.derive();
        if c != self.clocks {
            self.clocks = c;
            tracing::debug!(target: T, t = ctx.now, sysclk = c.sysclk, hclk = c.hclk,
                pclk1 = c.pclk1, pclk2 = c.pclk2, "clock tree changed");
            ctx.push(Effect::Clocks(c));
        }
        let cir = self.regs.get(CIR);
        let level = (cir & 0x3F) & ((cir >> 8) & 0x3F) != 0;
        if level != self.irq {
            self.irq = level;
            ctx.irq(IRQ_RCC, level);
        }
    }

    fn write_cr(&mut self, ctx: &mut Ctx, old: u32, mut new: u32) {
        // Sources SYSCLK depends on cannot be switched off.
        let used = self.in_use();
        for o in [Osc::Hsi, Osc::Hse, Osc::Pll] {
            let (_, on, _) = o.bits();
            if used & (1 << o as u8) != 0 && new & on == 0 {
                guest_error("RCC", ctx.now, "clearing the ON bit of the SYSCLK source");
                new |= on;
            }
        }
        self.regs.set(CR, new);
        for o in [Osc::Hsi, Osc::Hse, Osc::Pll, Osc::PllI2s] {
            let (_, on, _) = o.bits();
            match (old & on != 0, new & on != 0) {
                (false, true) => self.start(ctx, o),
                (true, false) => self.stop(ctx, o),
                _ => {}
            }
        }
    }

    fn write_bdcr(&mut self, ctx: &mut Ctx, old: u32, mut new: u32) {
        if self.dbp == Some(false) {
            guest_error("RCC", ctx.now, "BDCR write while PWR_CR.DBP = 0 (ignored)");
            self.regs.set(BDCR, old);
            return;
        }
        if new & BDRST != 0 {
            // Backup domain software reset: everything but BDRST back to 0.
            new = BDRST;
        } else if old & RTCSEL != 0 && (new & RTCSEL) != (old & RTCSEL) {
            guest_error(
                "RCC",
                ctx.now,
                "RTCSEL changed without a backup domain reset",
            );
            new = (new & !RTCSEL) | (old & RTCSEL);
        }
        self.regs.set(BDCR, new);
        match (old & LSEON != 0, new & LSEON != 0) {
            (false, true) => self.start(ctx, Osc::Lse),
            (true, false) => self.stop(ctx, Osc::Lse),
            _ => {}
        }
    }
}

impl Device for Rcc {
    fn name(&self) -> &str {
        "RCC"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = self.regs.read(offset, size).unwrap_or(0);
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
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            // Reserved: writes ignored, reads 0 (no bus error inside the RCC block).
            return Ok(());
        };
        let reg = self.regs.reg(w.idx).offset;
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        match reg {
            CR => self.write_cr(ctx, w.old, w.new),
            CFGR => {}
            CIR => {
                let mut v = w.new & !0x00BF_0000 & !((w.new >> 16) & 0x3F);
                if w.new & (1 << 23) != 0 {
                    v &= !(1 << 7);
                }
                self.regs.set(CIR, v);
            }
            BDCR => self.write_bdcr(ctx, w.old, w.new),
            CSR => {
                let mut v = w.new & !RMVF;
                if w.new & RMVF != 0 {
                    v &= !RESET_FLAGS;
                }
                self.regs.set(CSR, v);
                match (w.old & LSION != 0, v & LSION != 0) {
                    (false, true) => self.start(ctx, Osc::Lsi),
                    (true, false) => self.stop(ctx, Osc::Lsi),
                    _ => {}
                }
            }
            AHB1RSTR | AHB2RSTR | AHB3RSTR | APB1RSTR | APB2RSTR => {
                let rising = w.new & !w.old;
                if rising != 0 {
                    let bus = match reg {
                        AHB1RSTR => RccBus::Ahb1,
                        AHB2RSTR => RccBus::Ahb2,
                        AHB3RSTR => RccBus::Ahb3,
                        APB1RSTR => RccBus::Apb1,
                        _ => RccBus::Apb2,
                    };
                    self.resets.push((bus, rising));
                }
            }
            _ => {}
        }
        self.update(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        let Some(&o) = OSCS.get(token as usize) else {
            return;
        };
        self.starting &= !(1 << o as u8);
        let (reg, on, rdy) = o.bits();
        if !self.regs.bit(reg, on) {
            return;
        }
        if o == Osc::Pll {
            let src = if self.pll_src_hse() {
                Osc::Hse
            } else {
                Osc::Hsi
            };
            if !self.ready(src) {
                // Locks once its source runs: retry one lock time later.
                self.start(ctx, Osc::Pll);
                return;
            }
        }
        self.regs.set_bits(reg, rdy, true);
        tracing::debug!(target: T, t = ctx.now, osc = ?o, "ready");
        let cir = self.regs.get(CIR);
        if cir & (o.cir_bit() << 8) != 0 {
            self.regs.set(CIR, cir | o.cir_bit());
        }
        self.update(ctx);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.system_reset(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;

    fn bus() -> FakeBus<Rcc> {
        FakeBus::new(Rcc::new(12_000_000), Clocks::RESET)
    }

    /// Microseconds at the current SYSCLK.
    fn us(b: &FakeBus<Rcc>, n: u64) -> u64 {
        b.clocks.to_cycles(n, 1_000_000)
    }

    #[test]
    fn reset_values() {
        let mut b = bus();
        assert_eq!(b.read32(CR), 0x83);
        assert_eq!(b.read32(PLLCFGR), 0x2400_3010);
        assert_eq!(b.read32(CFGR), 0);
        assert_eq!(b.read32(AHB1ENR), 0x0010_0000);
        assert_eq!(b.read32(AHB1LPENR), 0x7E67_91FF);
        assert_eq!(b.read32(APB2LPENR), 0x0007_5F33);
        assert_eq!(b.read32(CSR), 0x0E00_0000);
        assert_eq!(b.read32(PLLI2SCFGR), 0x2000_3000);
        assert_eq!(b.clocks, Clocks::RESET);
    }

    /// The official firmware's boot sequence: HSE on, PLL to 168 MHz, switch, prescalers.
    #[test]
    fn official_boot_clock_sequence_reaches_168_mhz() {
        let mut b = bus();
        b.write32(CR, 0x0001_0083);
        assert_eq!(b.read32(CR) & HSERDY, 0);
        b.advance(us(&b, 1999));
        assert_eq!(b.read32(CR) & HSERDY, 0);
        b.advance(us(&b, 2));
        assert_ne!(b.read32(CR) & HSERDY, 0);
        b.write32(PLLCFGR, 0x0740_540C);
        let v = b.read32(CR) | PLLON;
        b.write32(CR, v);
        b.advance(us(&b, 101));
        assert_ne!(b.read32(CR) & PLLRDY, 0);
        b.write32(CFGR, 0x2);
        assert_eq!(
            b.read32(CFGR) & 0xC,
            0x8,
            "SWS follows SW at once: PLL is ready"
        );
        b.write32(CFGR, 0x140A);
        b.write32(CFGR, 0x940A);
        let c = b.clocks;
        assert_eq!(c.sysclk, 168_000_000);
        assert_eq!(c.hclk, 168_000_000);
        assert_eq!(c.pclk1, 42_000_000);
        assert_eq!(c.pclk2, 84_000_000);
        assert_eq!(c.tim_apb1, 84_000_000);
        assert_eq!(c.tim_apb2, 168_000_000);
        assert_eq!(c.pll48, 48_000_000);
        // HSI may go off now (bit-band write in the firmware); PLL may not.
        let v = b.read32(CR) & !HSION & !PLLON;
        b.write32(CR, v);
        let cr = b.read32(CR);
        assert_eq!(cr & (HSION | HSIRDY), 0);
        assert_ne!(cr & PLLON, 0);
    }

    #[test]
    fn switch_waits_for_the_source() {
        let mut b = bus();
        b.write32(CFGR, 1); // HSE, not on
        assert_eq!(b.read32(CFGR), 1);
        b.write32(CR, 0x83 | HSEON);
        b.advance(us(&b, 2001));
        assert_eq!(b.read32(CFGR), 0x5);
        assert_eq!(b.clocks.sysclk, 12_000_000);
        assert!(b
            .take_log()
            .iter()
            .any(|(_, e)| matches!(e, Effect::Clocks(c) if c.sysclk == 12_000_000)));
    }

    #[test]
    fn ready_interrupt_and_clear() {
        let mut b = bus();
        b.write32(CIR, 1 << (8 + 3)); // HSERDYIE
        b.write32(CR, 0x83 | HSEON);
        b.advance(us(&b, 2001));
        assert_eq!(b.read32(CIR) & 0x3F, 1 << 3);
        assert!(b.irq(IRQ_RCC));
        b.write32(CIR, (1 << 11) | (1 << 19));
        assert_eq!(b.read32(CIR), 1 << 11);
        assert!(!b.irq(IRQ_RCC));
    }

    #[test]
    fn csr_flags_lsi_and_rmvf() {
        let mut b = bus();
        b.write32(CSR, LSION);
        b.advance(us(&b, 16));
        assert_eq!(b.read32(CSR), 0x0E00_0000 | LSION | LSIRDY);
        let v = b.read32(CSR) | RMVF;
        b.write32(CSR, v);
        assert_eq!(b.read32(CSR), LSION | LSIRDY);
        b.with(|d, ctx| d.reset(ctx));
        b.dev.set_reset_cause(ResetCause::Software);
        assert_eq!(b.read32(CSR), (1 << 28) | (1 << 26));
    }

    #[test]
    fn bdcr_lse_rtcsel_and_protection() {
        let mut b = FakeBus::new(
            Rcc::new(12_000_000).with_timing(RccTiming {
                lse_us: 1000,
                ..Default::default()
            }),
            Clocks::RESET,
        );
        b.dev.set_dbp(false);
        b.write32(BDCR, LSEON);
        assert_eq!(b.read32(BDCR), 0);
        b.dev.set_dbp(true);
        b.write32(BDCR, LSEON);
        b.advance(us(&b, 1001));
        assert_eq!(b.read32(BDCR), LSEON | LSERDY);
        b.write32(BDCR, 0x103);
        b.write32(BDCR, 0x203);
        assert_eq!(b.read32(BDCR) & RTCSEL, 0x100, "RTCSEL is set once");
        // The backup domain survives a system reset.
        b.with(|d, ctx| d.reset(ctx));
        assert_eq!(b.read32(BDCR), 0x103);
        b.write32(BDCR, BDRST);
        b.write32(BDCR, 0);
        assert_eq!(b.read32(BDCR), 0);
    }

    #[test]
    fn reset_bits_are_handed_to_the_machine() {
        let mut b = bus();
        b.write32(APB2RSTR, 1 << 4);
        b.write32(APB2RSTR, 0);
        assert_eq!(b.dev.take_resets(), vec![(RccBus::Apb2, 1 << 4)]);
        assert!(b.dev.take_resets().is_empty());
        b.write32(AHB1ENR, 3 | (1 << 20));
        assert!(b.dev.enabled(RccBus::Ahb1, 1));
    }

    #[test]
    fn pll_waits_for_its_source_and_drops_at_once() {
        let mut b = bus();
        b.write32(PLLCFGR, 0x0740_540C);
        b.write32(CR, 0x83 | PLLON | HSEON);
        b.advance(us(&b, 150));
        assert_eq!(b.read32(CR) & PLLRDY, 0, "HSE not ready yet");
        b.advance(us(&b, 2100));
        assert_ne!(b.read32(CR) & PLLRDY, 0);
        b.write32(CR, 0x83 | HSEON);
        assert_eq!(b.read32(CR) & PLLRDY, 0);
    }
}
