//! Pins: GPIO input edges to EXTI (through SYSCFG_EXTICR) and to timer input channels,
//! timer channel outputs to their alternate-function pins, levels driven from outside,
//! and pins that power devices on an I2C bus.

use pybsim_peripherals::exti::Exti;
use pybsim_peripherals::gpio::{Gpio, Mode as GpioMode};
use pybsim_peripherals::i2c::I2c;
use pybsim_peripherals::syscfg::Syscfg;
use pybsim_peripherals::timer::Timer;
use pybsim_peripherals::Effect;

use super::{SIo, Soc};

/// Alternate function number of each timer's channels (STM32F405 datasheet, Table 9).
pub(super) fn timer_af(tim: u8) -> u8 {
    match tim {
        1 | 2 => 1,
        3..=5 => 2,
        8..=11 => 3,
        _ => 9,
    }
}

/// Timer channel pins of the STM32F405 (datasheet, Table 9): (timer, channel,
/// complementary, port, pin).
pub(super) const TIM_PINS: &[(u8, u8, bool, u8, u8)] = &[
    (1, 1, false, 0, 8),
    (1, 2, false, 0, 9),
    (1, 3, false, 0, 10),
    (1, 4, false, 0, 11),
    (1, 1, false, 4, 9),
    (1, 2, false, 4, 11),
    (1, 3, false, 4, 13),
    (1, 4, false, 4, 14),
    (1, 1, true, 0, 7),
    (1, 1, true, 1, 13),
    (1, 2, true, 1, 0),
    (1, 2, true, 1, 14),
    (1, 3, true, 1, 1),
    (1, 3, true, 1, 15),
    (2, 1, false, 0, 0),
    (2, 1, false, 0, 5),
    (2, 1, false, 0, 15),
    (2, 2, false, 0, 1),
    (2, 2, false, 1, 3),
    (2, 3, false, 0, 2),
    (2, 3, false, 1, 10),
    (2, 4, false, 0, 3),
    (2, 4, false, 1, 11),
    (3, 1, false, 0, 6),
    (3, 1, false, 1, 4),
    (3, 1, false, 2, 6),
    (3, 2, false, 0, 7),
    (3, 2, false, 1, 5),
    (3, 2, false, 2, 7),
    (3, 3, false, 1, 0),
    (3, 3, false, 2, 8),
    (3, 4, false, 1, 1),
    (3, 4, false, 2, 9),
    (4, 1, false, 1, 6),
    (4, 2, false, 1, 7),
    (4, 3, false, 1, 8),
    (4, 4, false, 1, 9),
    (4, 1, false, 3, 12),
    (4, 2, false, 3, 13),
    (4, 3, false, 3, 14),
    (4, 4, false, 3, 15),
    (5, 1, false, 0, 0),
    (5, 2, false, 0, 1),
    (5, 3, false, 0, 2),
    (5, 4, false, 0, 3),
    (8, 1, false, 2, 6),
    (8, 2, false, 2, 7),
    (8, 3, false, 2, 8),
    (8, 4, false, 2, 9),
    (8, 1, true, 0, 5),
    (8, 1, true, 0, 7),
    (8, 2, true, 1, 0),
    (8, 2, true, 1, 14),
    (8, 3, true, 1, 1),
    (8, 3, true, 1, 15),
    (9, 1, false, 0, 2),
    (9, 2, false, 0, 3),
    (10, 1, false, 1, 8),
    (11, 1, false, 1, 9),
    (12, 1, false, 1, 14),
    (12, 2, false, 1, 15),
    (13, 1, false, 0, 6),
    (14, 1, false, 0, 7),
];

impl Soc {
    /// Switches the I2C devices that pin (`port`, `pin`) powers.
    pub(crate) fn power_i2c_devices(&mut self, io: &mut SIo, port: u8, pin: u8, level: bool) {
        let targets: Vec<(u16, u8)> = self
            .pin_power
            .iter()
            .filter(|p| p.0 == (port, pin))
            .map(|p| (p.1, p.2))
            .collect();
        for (idx, addr) in targets {
            self.with_model(idx, io.now(), |i: &mut I2c, ctx| {
                i.set_device_power(ctx, addr, level)
            });
        }
    }

    /// Sends the input edges of GPIO device `dev` to EXTI, through SYSCFG_EXTICR.
    pub(crate) fn route_edges(&mut self, io: &mut SIo, dev: u16, work: &mut Vec<(u16, Effect)>) {
        let Some(port) = self.gpio_idx.iter().position(|g| *g == Some(dev)) else {
            return;
        };
        let (Some(edges), _) = self.with_model(dev, io.now(), |g: &mut Gpio, _| {
            g.has_input_edges().then(|| g.take_input_edges())
        }) else {
            return;
        };
        let Some(edges) = edges else { return };
        self.route_timer_inputs(io, dev, port as u8, &edges, work);
        let (Some(ei), Some(si)) = (self.exti_idx, self.syscfg_idx) else {
            return;
        };
        for (pin, level) in edges {
            let (src, _) = self.with_model(si, io.now(), |s: &mut Syscfg, _| s.exti_port(pin));
            if src != Some(port as u8) {
                continue;
            }
            let (_, more) =
                self.with_model(ei, io.now(), |x: &mut Exti, ctx| x.input(ctx, pin, level));
            work.extend(more.into_iter().map(|e| (ei, e)));
        }
    }

    /// Sends the input edges of GPIO port `port` (bus index `dev`) to the timer inputs
    /// TI1-TI4 of the channel pins that are in alternate-function mode with their
    /// timer's AF number (input capture).
    fn route_timer_inputs(
        &mut self,
        io: &mut SIo,
        dev: u16,
        port: u8,
        edges: &[(u8, bool)],
        work: &mut Vec<(u16, Effect)>,
    ) {
        for &(pin, level) in edges {
            for &(tim, ch, comp, p, n) in TIM_PINS {
                if comp || p != port || n != pin {
                    continue;
                }
                let (sel, _) = self.with_model(dev, io.now(), |g: &mut Gpio, _| {
                    g.pin_mode(pin) == GpioMode::Af && g.af(pin) == timer_af(tim)
                });
                if sel != Some(true) {
                    continue;
                }
                let Some(ti) = self.bus.index_of(&format!("TIM{tim}")) else {
                    continue;
                };
                let (_, more) = self.with_model(ti, io.now(), |t: &mut Timer, ctx| {
                    t.input_edge(ctx, ch as usize - 1, level)
                });
                work.extend(more.into_iter().map(|e| (ti, e)));
            }
        }
    }

    /// Gives every EXTI line 0-15 the level of the pin SYSCFG_EXTICR selects for it, as
    /// the line's input multiplexer does (after a remap or a reset).
    pub(crate) fn sync_exti(&mut self, io: &mut SIo) {
        let (Some(ei), Some(si)) = (self.exti_idx, self.syscfg_idx) else {
            return;
        };
        let mut levels = [false; 16];
        for (line, lv) in levels.iter_mut().enumerate() {
            let (port, _) =
                self.with_model(si, io.now(), |s: &mut Syscfg, _| s.exti_port(line as u8));
            if let Some(gi) = port.and_then(|p| self.gpio(p)) {
                let (idr, _) = self.with_model(gi, io.now(), |g: &mut Gpio, _| g.idr());
                *lv = idr.unwrap_or(0) & (1 << line) != 0;
            }
        }
        let (_, mut fx) = self.with_model(ei, io.now(), |x: &mut Exti, ctx| {
            for (line, lv) in levels.iter().enumerate() {
                x.input(ctx, line as u8, *lv);
            }
        });
        self.apply_effects(io, ei, &mut fx);
    }

    /// Drives pin `pin` of port `port` from outside (stimuli, switch), or releases it.
    pub fn drive_pin(&mut self, io: &mut SIo, port: u8, pin: u8, level: Option<bool>) {
        let Some(gi) = self.gpio(port) else {
            return;
        };
        let (_, mut fx) = self.with_model(gi, io.now(), |g: &mut Gpio, ctx| {
            g.set_external(ctx, pin, level)
        });
        self.apply_effects(io, gi, &mut fx);
    }
}
