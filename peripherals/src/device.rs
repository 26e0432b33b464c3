//! The contract between a peripheral model and the machine that hosts it.
//!
//! Time is one integer virtual clock counted in CPU (SYSCLK) cycles. A model that needs to
//! act later (a byte shifted out, a counter overflow, a ready flag rising) schedules exactly
//! one event per `token` for its next visible edge; a new `Schedule` with the same token
//! replaces the old one, `Cancel` drops it. Counters are computed when read from
//! `(now - start) / prescaler`, never ticked.

/// Width of a bus access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    Byte,
    Half,
    Word,
}

impl Size {
    pub fn bytes(self) -> u32 {
        match self {
            Size::Byte => 1,
            Size::Half => 2,
            Size::Word => 4,
        }
    }

    pub fn from_bytes(n: usize) -> Option<Size> {
        match n {
            1 => Some(Size::Byte),
            2 => Some(Size::Half),
            4 => Some(Size::Word),
            _ => None,
        }
    }

    /// Mask of the value bits an access of this size carries (right-aligned).
    pub fn mask(self) -> u32 {
        match self {
            Size::Byte => 0xff,
            Size::Half => 0xffff,
            Size::Word => 0xffff_ffff,
        }
    }
}

/// An access the silicon answers with a bus error (the CPU takes a precise BusFault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bus error at offset {offset:#x} ({size:?})")]
pub struct BusError {
    pub offset: u32,
    pub size: Size,
}

/// A block the STM32F405 does not have, asked of a model's constructor: `TIM99`, GPIO
/// port 9, `USART7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("there is no {name}{n} on the STM32F405 (it has {has})")]
pub struct NoSuchInstance {
    /// `"TIM"`, `"U(S)ART"`, `"GPIO port "`.
    pub name: &'static str,
    pub n: u8,
    /// What there is, in words: `"TIM1-TIM14"`.
    pub has: &'static str,
}

/// The clock tree of the moment, in Hz, as RCC derives it from its registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocks {
    /// SYSCLK: the CPU clock; one virtual cycle is one SYSCLK period.
    pub sysclk: u32,
    /// AHB clock (HCLK).
    pub hclk: u32,
    /// APB1 peripheral clock (PCLK1).
    pub pclk1: u32,
    /// APB2 peripheral clock (PCLK2).
    pub pclk2: u32,
    /// Clock of the timers on APB1 (x2 when the APB1 prescaler is not 1).
    pub tim_apb1: u32,
    /// Clock of the timers on APB2 (x2 when the APB2 prescaler is not 1).
    pub tim_apb2: u32,
    /// PLL48CK (USB OTG FS, RNG, SDIO), 0 when the PLL is off.
    pub pll48: u32,
}

impl Clocks {
    /// Reset state: everything runs from the 16 MHz HSI.
    pub const RESET: Clocks = Clocks {
        sysclk: 16_000_000,
        hclk: 16_000_000,
        pclk1: 16_000_000,
        pclk2: 16_000_000,
        tim_apb1: 16_000_000,
        tim_apb2: 16_000_000,
        pll48: 0,
    };

    /// CPU cycles taken by `ticks` periods of a clock at `freq` Hz, rounded up.
    pub fn to_cycles(&self, ticks: u64, freq: u32) -> u64 {
        if freq == 0 {
            return u64::MAX;
        }
        let num = ticks as u128 * self.sysclk as u128;
        num.div_ceil(freq as u128).min(u64::MAX as u128) as u64
    }

    /// Whole periods of a clock at `freq` Hz in `cycles` CPU cycles (rounded down).
    pub fn to_ticks(&self, cycles: u64, freq: u32) -> u64 {
        if self.sysclk == 0 {
            return 0;
        }
        (cycles as u128 * freq as u128 / self.sysclk as u128) as u64
    }
}

impl Default for Clocks {
    fn default() -> Self {
        Clocks::RESET
    }
}

/// Kind of reset a model asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    /// Software reset (SCB AIRCR.SYSRESETREQ).
    Software,
    /// Independent watchdog.
    Iwdg,
    /// Window watchdog.
    Wwdg,
}

/// A signal a peripheral drives onto a pin through an alternate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AfSignal {
    /// Timer `tim` (1-14) output channel `ch` (1-4); `complementary` for CHxN.
    TimCh {
        tim: u8,
        ch: u8,
        complementary: bool,
    },
    /// TX line of U(S)ART `n` (1-6).
    UartTx { n: u8 },
}

/// A DMA request signal of a peripheral. RM0090 Tables 42 and 43 (§10.3.3) map each
/// signal to the stream(s) and channel of DMA1 or DMA2 that can serve it; the machine
/// routes a request to the stream whose SxCR.CHSEL selects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmaSignal {
    /// U(S)ART `n` (1-6) receive (RXNE) and transmit (TXE) requests.
    UsartRx(u8),
    UsartTx(u8),
    /// SPI `n` (1-3) receive (RXNE) and transmit (TXE) requests.
    SpiRx(u8),
    SpiTx(u8),
    /// I2C `n` (1-3) receive (RxNE) and transmit (TxE) requests.
    I2cRx(u8),
    I2cTx(u8),
    /// ADC `n` (1-3) end of conversion with CR2.DMA set.
    Adc(u8),
    /// DAC channel `n` (1-2) trigger with CR.DMAENx set.
    Dac(u8),
    /// SDIO FIFO request.
    Sdio,
    /// Timer `tim` update event with DIER.UDE.
    TimUp(u8),
    /// Timer `tim` capture/compare `ch` with DIER.CCxDE.
    TimCh {
        tim: u8,
        ch: u8,
    },
    /// Timer `tim` trigger event with DIER.TDE.
    TimTrig(u8),
    /// Timer `tim` commutation event with DIER.COMDE.
    TimCom(u8),
}

/// What a model asks the machine to do. Models push these into [`Ctx`]; the machine
/// applies them after the access or event that produced them, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Set the level of NVIC interrupt line `irq` (0-81 on the F405).
    Irq { irq: u16, level: bool },
    /// Call [`Device::event`] with `token` at virtual cycle `at` (replaces an earlier
    /// schedule of the same token on the same device).
    Schedule { token: u32, at: u64 },
    /// Drop the pending event with `token`, if any.
    Cancel { token: u32 },
    /// RCC derived a new clock tree.
    Clocks(Clocks),
    /// A GPIO output pin changed level (port 0 = A .. 8 = I).
    PinOutput { port: u8, pin: u8, level: bool },
    /// A peripheral's alternate-function output changed level.
    AfOutput { signal: AfSignal, level: bool },
    /// A peripheral stopped driving an alternate-function output (a timer channel
    /// disabled or turned into an input): the pin is driven from outside again.
    AfRelease { signal: AfSignal },
    /// U(S)ART `n` started sending a frame carrying `byte`; the frame ends at `end`.
    UartTx { n: u8, byte: u8, end: u64 },
    /// The flash interface erased `len` bytes at absolute address `addr` (to 0xFF).
    FlashErase { addr: u32, len: u32 },
    /// The flash interface programmed `data` at absolute address `addr`.
    FlashProgram { addr: u32, data: Vec<u8> },
    /// The flash access-control settings changed (latency in wait states, ART caches).
    FlashAcr {
        latency: u8,
        prefetch: bool,
        icache: bool,
        dcache: bool,
    },
    /// Reset the whole machine.
    Reset(ResetKind),
    /// DAC channel `channel` (1-2) loaded its output register with the 12-bit `code`
    /// (one output sample, at the time of the context).
    DacOutput { channel: u8, code: u16 },
    /// Bytes the firmware wrote to the pybsim console device.
    ConsoleTx(Vec<u8>),
    /// A peripheral raised (`level` true) or dropped a DMA request line.
    DmaRequest { signal: DmaSignal, level: bool },
    /// A peripheral that is the flow controller (SDIO with SxCR.PFCTRL) says the block
    /// transfer on its request line is complete (RM0090 §10.3.16).
    DmaPeripheralEnd { signal: DmaSignal },
    /// An internal EXTI line (16-22: PVD, RTC alarm, OTG wakeup, tamper, RTC wakeup)
    /// follows `level`; EXTI detects its edges (RM0090 §12.2.5).
    ExtiLine { line: u8, level: bool },
    /// SPI `n`, a master, starts a frame of `bits` (8 or 16) carrying `word` in wire
    /// order (first bit on the wire = bit `bits - 1`), clock mode `mode` (CPOL << 1 |
    /// CPHA); the frame ends at `end`. The machine finds what MISO carries and tells the
    /// model (`spi::Spi::set_incoming`), and hands the word to a wired slave.
    SpiFrame {
        n: u8,
        word: u16,
        bits: u8,
        mode: u8,
        end: u64,
    },
    /// Timer `tim`'s trigger output (TRGO, selected by CR2.MMS) pulsed at virtual cycle
    /// `at` (the exact time of the update/enable/reset that caused it, which may be a
    /// little before the access or event that noticed it).
    TimerTrgo { tim: u8, at: u64 },
    /// What a USB host would see of the OTG FS device changed (its D+ pull-up, an
    /// endpoint that would now answer a token with data, ACK or STALL): an attached host
    /// model looks at the bus again (emulator/src/usb_host.rs).
    UsbDeviceChanged,
}

/// What a model sees of the machine during one access or event.
pub struct Ctx<'a> {
    /// Virtual time in CPU cycles.
    pub now: u64,
    /// The clock tree of the moment.
    pub clocks: Clocks,
    effects: &'a mut Vec<Effect>,
}

impl<'a> Ctx<'a> {
    pub fn new(now: u64, clocks: Clocks, effects: &'a mut Vec<Effect>) -> Self {
        Ctx {
            now,
            clocks,
            effects,
        }
    }

    pub fn push(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    pub fn irq(&mut self, irq: u16, level: bool) {
        self.push(Effect::Irq { irq, level });
    }

    pub fn schedule(&mut self, token: u32, at: u64) {
        self.push(Effect::Schedule { token, at });
    }

    pub fn cancel(&mut self, token: u32) {
        self.push(Effect::Cancel { token });
    }
}

/// A memory-mapped peripheral block.
///
/// `offset` is the byte offset of the access inside the block; `value` is right-aligned
/// and holds `size` bytes. A block that only answers word accesses returns `BusError`
/// for the others only where the silicon does (most STM32 APB blocks accept byte and
/// half-word accesses; see each model's doc). `Any` lets the machine reach a model's own
/// methods (pin inputs, received bytes) through `&mut dyn Device`.
pub trait Device: std::any::Any {
    /// Name as in RM0090 (e.g. "USART1"), for logs.
    fn name(&self) -> &str;
    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError>;
    fn write(&mut self, ctx: &mut Ctx, offset: u32, size: Size, value: u32)
        -> Result<(), BusError>;
    /// A scheduled event fired (virtual time is `ctx.now`, which equals its deadline).
    fn event(&mut self, _ctx: &mut Ctx, _token: u32) {}
    /// The clock tree changed; models whose timing depends on it reschedule here.
    fn clocks_changed(&mut self, _ctx: &mut Ctx) {}
    /// Back to the reset state (registers at their reset values, events cancelled).
    fn reset(&mut self, ctx: &mut Ctx);
}

/// Splits a sub-word access into the aligned word offset, the value shifted into its
/// byte lanes and the mask of those lanes.
pub fn lanes(offset: u32, size: Size, value: u32) -> (u32, u32, u32) {
    let shift = (offset & 3) * 8;
    let mask = size.mask().checked_shl(shift).unwrap_or(0);
    (offset & !3, (value << shift) & mask, mask)
}

/// Extracts a sub-word read from a whole register value.
pub fn extract(offset: u32, size: Size, word: u32) -> u32 {
    (word >> ((offset & 3) * 8)) & size.mask()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_of_a_half_word_in_the_upper_half() {
        assert_eq!(
            lanes(0x1a, Size::Half, 0x0001),
            (0x18, 0x0001_0000, 0xffff_0000)
        );
        assert_eq!(extract(0x1a, Size::Half, 0xabcd_1234), 0xabcd);
        assert_eq!(extract(0x13, Size::Byte, 0x1200_0000), 0x12);
    }

    #[test]
    fn clock_conversions_round_the_right_way() {
        let c = Clocks {
            sysclk: 168_000_000,
            ..Clocks::RESET
        };
        // One 42 MHz tick is 4 CPU cycles.
        assert_eq!(c.to_cycles(1, 42_000_000), 4);
        assert_eq!(c.to_cycles(1, 115_200), 1459); // 1458.33 rounded up
        assert_eq!(c.to_ticks(1459, 115_200), 1);
    }
}
