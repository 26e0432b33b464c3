//! The interconnect: what a peripheral's effects do to the rest of the chip and to the
//! core (interrupt lines ORed over their sources, events, clock changes, UART bytes on
//! wires, flash programming, resets, pin levels on wires and EXTI, SPI frames, DMA
//! requests, timer triggers, alternate-function outputs).

use pybsim_peripherals::device::AfSignal;
use pybsim_peripherals::exti::Exti;
use pybsim_peripherals::gpio::{Gpio, Mode as GpioMode};
use pybsim_peripherals::{Ctx, Effect};

use super::pins::{timer_af, TIM_PINS};
use super::{ConsolePort, SIo, Soc, SocEvent};

impl Soc {
    /// Applies what device `dev` asked for.
    pub(crate) fn apply_effects(&mut self, io: &mut SIo, dev: u16, fx: &mut Vec<Effect>) {
        let is_gpio = self.gpio_idx.contains(&Some(dev));
        if fx.is_empty() && !is_gpio {
            return;
        }
        let mut work: Vec<(u16, Effect)> = fx.drain(..).map(|e| (dev, e)).collect();
        if is_gpio {
            self.route_edges(io, dev, &mut work);
        }
        let mut i = 0;
        while i < work.len() {
            let (d, e) = work[i].clone();
            i += 1;
            match e {
                Effect::Irq { irq, level } => {
                    // Lines shared by several devices (TIM1 with TIM9-11, ...) are the
                    // OR of their sources.
                    let key = (irq, d);
                    let pos = self.irq_sources.iter().position(|k| *k == key);
                    match (level, pos) {
                        (true, None) => self.irq_sources.push(key),
                        (false, Some(p)) => {
                            self.irq_sources.swap_remove(p);
                        }
                        _ => {}
                    }
                    let any = self.irq_sources.iter().any(|k| k.0 == irq);
                    io.set_irq(irq, any);
                }
                Effect::Schedule { token, at } => {
                    io.schedule(SocEvent::Device(d), token, at);
                }
                Effect::Cancel { token } => io.cancel(SocEvent::Device(d), token),
                Effect::Clocks(c) => {
                    if c != self.clocks {
                        self.clocks = c;
                        io.log(|| format!("clocks sysclk={} hclk={}", c.sysclk, c.hclk));
                        io.set_clocks(c.sysclk, c.hclk);
                        for j in 0..self.bus.devices.len() {
                            if j as u16 == d {
                                continue;
                            }
                            let mut more = Vec::new();
                            {
                                let mut ctx = Ctx::new(io.now(), self.clocks, &mut more);
                                self.bus.devices[j].dev.clocks_changed(&mut ctx);
                            }
                            work.extend(more.into_iter().map(|e| (j as u16, e)));
                        }
                    }
                }
                Effect::UartTx { n, byte, end } => {
                    match self.uart_route.get(n as usize).copied().flatten() {
                        Some(to) => io.push(SocEvent::UartRx(to), byte as u32, end),
                        None => {
                            let at = self.fx_time.unwrap_or(io.now());
                            for o in self.observers.iter_mut() {
                                o.console(at, ConsolePort::Uart(n), &[byte]);
                            }
                            if let Some(v) = self.out.uart.get_mut(n as usize) {
                                v.push(byte);
                            }
                        }
                    }
                }
                Effect::FlashErase { addr, len } => {
                    if let Some(off) = io.flash_offset(addr) {
                        io.flash_update(off, |f| {
                            let n = (len as usize).min(f.len());
                            f[..n].fill(0xFF);
                        });
                    }
                }
                Effect::FlashProgram { addr, data } => {
                    if let Some(off) = io.flash_offset(addr) {
                        io.flash_update(off, |f| {
                            for (dst, src) in f.iter_mut().zip(&data) {
                                *dst &= *src;
                            }
                        });
                    }
                }
                Effect::FlashAcr {
                    latency,
                    prefetch,
                    icache,
                    dcache: _,
                } => io.set_flash_access(latency as u32, prefetch, icache),
                Effect::Reset(kind) => io.request_reset(kind),
                Effect::ConsoleTx(bytes) => {
                    let at = self.fx_time.unwrap_or(io.now());
                    for o in self.observers.iter_mut() {
                        o.console(at, ConsolePort::Device, &bytes);
                    }
                    self.out.console.extend_from_slice(&bytes);
                }
                Effect::DacOutput { channel, code } => {
                    let at = self.fx_time.unwrap_or(io.now());
                    for o in self.observers.iter_mut() {
                        o.dac(at, channel, code);
                    }
                }
                Effect::UsbDeviceChanged => self.usb_wake(io),
                Effect::ExtiLine { line, level } => {
                    if let Some(ei) = self.exti_idx {
                        let (_, more) = self.with_model(ei, io.now(), |x: &mut Exti, ctx| {
                            x.input(ctx, line, level)
                        });
                        work.extend(more.into_iter().map(|e| (ei, e)));
                    }
                }
                Effect::SpiFrame {
                    n,
                    word,
                    bits,
                    mode,
                    end,
                } => self.spi_frame(io, d, n, word, bits, mode, end, &mut work),
                Effect::DmaRequest { signal, level } => {
                    self.dma_request(io, signal, level, &mut work);
                }
                Effect::DmaPeripheralEnd { signal } => {
                    self.dma_peripheral_end(io, signal, &mut work);
                }
                Effect::TimerTrgo { tim, at } => self.timer_trgo(tim, at, &mut work),
                Effect::PinOutput { port, pin, level } => {
                    let now = io.now();
                    for o in self.observers.iter_mut() {
                        o.pin(now, port, pin, level);
                    }
                    self.power_i2c_devices(io, port, pin, level);
                    let peers: Vec<(u8, u8)> = self
                        .pin_wires
                        .iter()
                        .filter(|w| w.0 == (port, pin))
                        .map(|w| w.1)
                        .collect();
                    for (pp, pn) in peers {
                        if let Some(gi) = self.gpio(pp) {
                            let (_, more) = self.with_model(gi, io.now(), |g: &mut Gpio, ctx| {
                                g.set_external(ctx, pn, Some(level))
                            });
                            work.extend(more.into_iter().map(|e| (gi, e)));
                            self.route_edges(io, gi, &mut work);
                        }
                    }
                }
                Effect::AfRelease {
                    signal:
                        AfSignal::TimCh {
                            tim,
                            ch,
                            complementary,
                        },
                } => {
                    for &(t, c, n, port, pin) in TIM_PINS {
                        if (t, c, n) != (tim, ch, complementary) {
                            continue;
                        }
                        let Some(gi) = self.gpio(port) else {
                            continue;
                        };
                        let (_, more) = self
                            .with_model(gi, io.now(), |g: &mut Gpio, ctx| g.release_af(ctx, pin));
                        work.extend(more.into_iter().map(|e| (gi, e)));
                        self.route_edges(io, gi, &mut work);
                    }
                }
                Effect::AfRelease { .. } => {}
                Effect::AfOutput { signal, level } => {
                    let AfSignal::TimCh {
                        tim,
                        ch,
                        complementary,
                    } = signal
                    else {
                        continue;
                    };
                    let af = timer_af(tim);
                    for &(t, c, n, port, pin) in TIM_PINS {
                        if (t, c, n) != (tim, ch, complementary) {
                            continue;
                        }
                        let Some(gi) = self.gpio(port) else {
                            continue;
                        };
                        let (_, more) = self.with_model(gi, io.now(), |g: &mut Gpio, ctx| {
                            if g.pin_mode(pin) == GpioMode::Af && g.af(pin) == af {
                                g.set_af_level(ctx, pin, level);
                            }
                        });
                        work.extend(more.into_iter().map(|e| (gi, e)));
                    }
                }
            }
        }
        io.refresh_deadline();
    }
}
