//! The peripheral models pybsim has, by kind: how a board file names them and how a
//! model is made for a block the board mounts. Adding a peripheral kind to pybsim is a
//! model file in this crate, a variant here (its RM0090 block names and its constructor),
//! and its address, size and interrupt lines in the board file: nothing else.

use serde::Deserialize;

use crate::device::{Device, NoSuchInstance};
use crate::{adc, console, dac, dma, exti, flash, gpio, i2c, iwdg, otg_fs, pwr, rcc, rng, rtc};
use crate::{sdio, spi, syscfg, timer, usart, wwdg};

/// The kinds of peripheral block a board file can mount (`kind:` in its RON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum PeripheralKind {
    Gpio,
    Rcc,
    FlashInterface,
    Pwr,
    Syscfg,
    Exti,
    /// USART or UART.
    Usart,
    AdvancedTimer,
    GeneralPurposeTimer,
    BasicTimer,
    Rtc,
    Iwdg,
    Wwdg,
    Rng,
    UsbOtgFs,
    Dma,
    Adc,
    Dac,
    I2c,
    Spi,
    Sdio,
    /// The pybsim console (docs/console.md); no interrupt.
    Console,
}

/// The names the STM32F405's blocks of `kind` have in RM0090 (and that pybsim's models
/// and machine know them by).
pub fn rm0090_names(kind: PeripheralKind) -> &'static [&'static str] {
    use PeripheralKind as K;
    match kind {
        K::Gpio => &[
            "GPIOA", "GPIOB", "GPIOC", "GPIOD", "GPIOE", "GPIOF", "GPIOG", "GPIOH", "GPIOI",
        ],
        K::Rcc => &["RCC"],
        K::FlashInterface => &["FLASH"],
        K::Pwr => &["PWR"],
        K::Syscfg => &["SYSCFG"],
        K::Exti => &["EXTI"],
        K::Usart => &["USART1", "USART2", "USART3", "UART4", "UART5", "USART6"],
        K::AdvancedTimer => &["TIM1", "TIM8"],
        K::GeneralPurposeTimer => &[
            "TIM2", "TIM3", "TIM4", "TIM5", "TIM9", "TIM10", "TIM11", "TIM12", "TIM13", "TIM14",
        ],
        K::BasicTimer => &["TIM6", "TIM7"],
        K::Rtc => &["RTC"],
        K::Iwdg => &["IWDG"],
        K::Wwdg => &["WWDG"],
        K::Rng => &["RNG"],
        K::UsbOtgFs => &["USB_OTG_FS"],
        K::Dma => &["DMA1", "DMA2"],
        K::Adc => &["ADC"],
        K::Dac => &["DAC"],
        K::I2c => &["I2C1", "I2C2", "I2C3"],
        K::Spi => &["SPI1", "SPI2", "SPI3"],
        K::Sdio => &["SDIO"],
        K::Console => &["CONSOLE"],
    }
}

/// Every kind of block pybsim has a model for.
pub const ALL_KINDS: [PeripheralKind; 22] = {
    use PeripheralKind as K;
    [
        K::Gpio,
        K::Rcc,
        K::FlashInterface,
        K::Pwr,
        K::Syscfg,
        K::Exti,
        K::Usart,
        K::AdvancedTimer,
        K::GeneralPurposeTimer,
        K::BasicTimer,
        K::Rtc,
        K::Iwdg,
        K::Wwdg,
        K::Rng,
        K::UsbOtgFs,
        K::Dma,
        K::Adc,
        K::Dac,
        K::I2c,
        K::Spi,
        K::Sdio,
        K::Console,
    ]
};

/// What a model's constructor takes from the board file besides its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelParams {
    /// The HSE crystal, LSE crystal and LSI oscillator frequencies, in Hz.
    pub hse_hz: u32,
    pub lse_hz: u32,
    pub lsi_hz: u32,
}

/// The model for the block `name` of `kind` (a name of [`rm0090_names`]; the board loader
/// checks that). Err when the name is not one the STM32F405 has.
pub fn make(
    kind: PeripheralKind,
    name: &str,
    p: &ModelParams,
) -> Result<Box<dyn Device>, NoSuchInstance> {
    use PeripheralKind as K;
    let instance = name
        .trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '_')
        .parse::<u8>()
        .ok();
    let number =
        |name: &'static str, has: &'static str| instance.ok_or(NoSuchInstance { name, n: 0, has });
    Ok(match kind {
        K::Gpio => {
            let port = match name.strip_prefix("GPIO").map(str::as_bytes) {
                Some([c]) if c.is_ascii_uppercase() => c - b'A',
                _ => {
                    return Err(NoSuchInstance {
                        name: "GPIO port ",
                        n: u8::MAX,
                        has: "GPIOA-GPIOI",
                    })
                }
            };
            Box::new(gpio::Gpio::try_new(port)?)
        }
        K::Rcc => Box::new(rcc::Rcc::new(p.hse_hz)),
        K::FlashInterface => Box::new(flash::Flash::new()),
        K::Pwr => Box::new(pwr::Pwr::new()),
        K::Syscfg => Box::new(syscfg::Syscfg::new(0)),
        K::Exti => Box::new(exti::Exti::new()),
        K::Usart => Box::new(usart::Usart::try_new(number("U(S)ART", "USART1-USART6")?)?),
        K::Console => Box::new(console::Console::new()),
        K::Iwdg => Box::new(iwdg::Iwdg::new(p.lsi_hz)),
        K::AdvancedTimer | K::GeneralPurposeTimer | K::BasicTimer => {
            Box::new(timer::Timer::try_new(number("TIM", "TIM1-TIM14")?)?)
        }
        K::Rtc => Box::new(rtc::Rtc::new(p.lse_hz)),
        K::UsbOtgFs => Box::new(otg_fs::OtgFs::new()),
        K::Rng => Box::new(rng::Rng::new(0x5059_4253)),
        K::Adc => Box::new(adc::Adc::new()),
        K::Spi => Box::new(spi::Spi::new(number("SPI", "SPI1-SPI3")?)),
        K::I2c => Box::new(i2c::new(name)),
        K::Dac => Box::new(dac::new(name)),
        K::Dma => Box::new(dma::new(name)),
        K::Sdio => Box::new(sdio::new(name)),
        K::Wwdg => Box::new(wwdg::Wwdg::new()),
    })
}
