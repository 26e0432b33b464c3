//! The whole board as frontends see it: the STM32F405 ([`Soc`]) around its core, with
//! the host-side operations between runs (load firmware, reset, run a slice, feed the
//! console, drive pins, reach a model, attach observers).

use pybsim_peripherals::console::Console;
use pybsim_peripherals::Device;

use super::bus::Bus;
use super::memmap::{self, FLASH_SIZE};
use super::{ConsoleTrace, DacTrace, PinTrace, SIo, Soc, SocEvent, SocObserver};
use crate::core::cpu::UcError;
use crate::core::{CoreState, Engine, EventLog, Exit, Observer, ObserverId, ResetRecord};
use crate::loader::Image;

/// Machine settings.
pub struct MachineConfig {
    /// Devices to mount: name (as in RM0090), base, size, model.
    pub devices: Vec<(String, u32, u32, Box<dyn Device>)>,
    /// The 96-bit unique device ID (RM0090 §39.1).
    pub uid: [u8; 12],
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            devices: Vec::new(),
            uid: [
                0x33, 0x00, 0x2A, 0x00, 0x0D, 0x47, 0x31, 0x34, 0x31, 0x36, 0x32, 0x30,
            ],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("unicorn refused the machine setup: {0:?}")]
    Unicorn(UcError),
    #[error("{0}")]
    Image(String),
    /// The board mounts a block the STM32F405 does not have (the board loader's checks
    /// catch this first for board files).
    #[error("{0}")]
    Peripheral(String),
}

impl From<UcError> for MachineError {
    fn from(e: UcError) -> Self {
        MachineError::Unicorn(e)
    }
}

/// An STM32F405 board ready to run firmware.
pub struct Machine {
    eng: Engine<Soc>,
}

impl Machine {
    pub fn new(config: MachineConfig) -> Result<Machine, MachineError> {
        let mut bus = Bus::default();
        for (name, base, size, dev) in config.devices {
            bus.mount(&name, base, size, dev);
        }
        let pages = bus.pages();
        let soc = Soc::new(bus);
        let reset = (soc.clocks.sysclk, soc.clocks.hclk);
        let regions = memmap::regions(&config.uid, &pages);
        let eng = Engine::new(
            soc,
            memmap::code_map(),
            reset,
            vec![0xFF; FLASH_SIZE as usize],
            &regions,
        )?;
        Ok(Machine { eng })
    }

    /// Runs `f` on the chip (between runs).
    pub fn with_soc<R>(&self, f: impl FnOnce(&mut Soc) -> R) -> R {
        f(&mut self.eng.core().plat)
    }

    /// Runs `f` on the chip with a handle on the core (between runs).
    pub fn with_soc_io<R>(&mut self, f: impl FnOnce(&mut Soc, &mut SIo) -> R) -> R {
        self.eng.with_platform(f)
    }

    /// Runs `f` on the core's state (between runs): the system control space, the
    /// scheduler, counters.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut CoreState<SocEvent>) -> R) -> R {
        f(&mut self.eng.core().st)
    }

    /// The core underneath (between runs).
    pub fn engine(&mut self) -> &mut Engine<Soc> {
        &mut self.eng
    }

    /// Copies an image's segments into flash and RAM.
    pub fn load(&mut self, image: &Image) -> Result<(), MachineError> {
        for seg in &image.segments {
            if let Some(off) = memmap::code_map().flash_offset(seg.addr) {
                if off as usize + seg.data.len() > FLASH_SIZE as usize {
                    return Err(MachineError::Image(format!(
                        "{}: segment at {:#010x} runs past the end of flash",
                        image.path.display(),
                        seg.addr
                    )));
                }
                let data = seg.data.clone();
                self.eng
                    .with_cpu(|c| c.flash_update(off, |f| f[..data.len()].copy_from_slice(&data)));
            } else {
                let ok = self.eng.with_cpu(|c| c.write_mem(seg.addr, &seg.data));
                if ok.is_err() {
                    return Err(MachineError::Image(format!(
                        "{}: segment at {:#010x} ({} bytes) lies outside flash and RAM",
                        image.path.display(),
                        seg.addr,
                        seg.data.len()
                    )));
                }
            }
        }
        self.eng.invalidate_code();
        Ok(())
    }

    /// Writes bytes into the flash array at absolute address `addr` (host side).
    pub fn write_flash(&mut self, addr: u32, data: &[u8]) {
        if let Some(off) = memmap::code_map().flash_offset(addr) {
            self.eng.with_cpu(|c| {
                c.flash_update(off, |f| {
                    let n = data.len().min(f.len());
                    f[..n].copy_from_slice(&data[..n]);
                })
            });
            self.eng.invalidate_code();
        }
    }

    pub fn flash(&self) -> &[u8] {
        self.eng.flash()
    }

    /// Reads `n` words of directly mapped memory (0 where unreadable).
    pub fn read_words(&mut self, addr: u32, n: usize) -> Vec<u32> {
        self.eng.with_cpu(|c| {
            (0..n as u32)
                .map(|i| c.read_u32(addr + 4 * i).unwrap_or(0))
                .collect()
        })
    }

    /// Power-on or system reset: core and peripherals to their reset state, SP and PC
    /// from the vector table at address 0 (flash, BOOT0 low). Memory keeps its contents.
    pub fn reset(&mut self) {
        self.eng.reset();
    }

    /// Queues host bytes for the firmware's console (they enter at the current virtual
    /// time, between runs).
    pub fn console_input(&mut self, bytes: &[u8]) {
        self.with_device::<Console, _>("CONSOLE", |c| c.push_rx(bytes));
    }

    /// Bytes queued for the console that the firmware has not read yet.
    pub fn console_pending(&mut self) -> usize {
        self.with_device::<Console, _>("CONSOLE", |c| c.rx_len())
            .unwrap_or(0)
    }

    /// Takes what the firmware wrote to the console since the last call.
    pub fn take_console_output(&mut self) -> Vec<u8> {
        self.with_soc(|s| std::mem::take(&mut s.out.console))
    }

    /// Takes what U(S)ART `n` sent that no wire carried to another UART.
    pub fn take_uart_output(&mut self, n: u8) -> Vec<u8> {
        self.with_soc(|s| {
            s.out
                .uart
                .get_mut(n as usize)
                .map(std::mem::take)
                .unwrap_or_default()
        })
    }

    /// Bytes written through semihosting so far.
    pub fn semihost_output(&self) -> Vec<u8> {
        self.eng.core().st.semihost_out.clone()
    }

    /// Takes the bytes written through semihosting since the last call.
    pub fn take_semihost_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.eng.core().st.semihost_out)
    }

    /// Drives a GPIO pin from outside the board (stimuli, the switch), or releases it.
    pub fn drive_pin(&mut self, port: u8, pin: u8, level: Option<bool>) {
        self.eng
            .with_platform(|soc, io| soc.drive_pin(io, port, pin, level));
    }

    /// Runs `f` on the SDIO host model (its card slot), if the board has one.
    pub fn with_sdio<R>(
        &mut self,
        f: impl FnOnce(&mut pybsim_peripherals::sdio::Sdio) -> R,
    ) -> Option<R> {
        self.with_device("SDIO", f)
    }

    /// Runs `f` on the model mounted as `name` as its concrete type (host side, between
    /// runs: e.g. to hand a model its analog stimuli). None if there is no such model.
    pub fn with_device<T: Device, R>(&self, name: &str, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.with_soc(|s| s.bus.get_mut::<T>(name).map(f))
    }

    /// Sends a byte into U(S)ART `n`'s RX line, arriving at virtual time `at`.
    pub fn uart_input(&mut self, n: u8, byte: u8, at: u64) {
        self.eng.with_platform(|_, io| {
            io.push(SocEvent::UartRx(n), byte as u32, at);
            io.refresh_deadline();
        });
    }

    /// Attaches an observer of the core (blocks, exceptions, the event log).
    pub fn attach_observer(&mut self, o: Box<dyn Observer>) -> ObserverId {
        self.eng.attach_observer(o)
    }

    pub fn detach_observer(&mut self, id: ObserverId) {
        self.eng.detach_observer(id);
    }

    /// Attaches an observer of the pins (it stays for the machine's life).
    pub fn attach_soc_observer(&mut self, o: Box<dyn SocObserver>) {
        self.with_soc(|s| s.observers.push(o));
    }

    /// Records every GPIO output change from now on; the trace fills as the board runs.
    pub fn trace_pins(&mut self) -> PinTrace {
        let t = PinTrace::default();
        self.attach_soc_observer(Box::new(t.clone()));
        t
    }

    /// Records every DAC output sample from now on.
    pub fn trace_dac(&mut self) -> DacTrace {
        let t = DacTrace::default();
        self.attach_soc_observer(Box::new(t.clone()));
        t
    }

    /// Records every console byte that leaves the board from now on (console device,
    /// UARTs, USB CDC), with its time ([`SocObserver::console`]).
    pub fn trace_console(&mut self) -> ConsoleTrace {
        let t = ConsoleTrace::default();
        self.attach_soc_observer(Box::new(t.clone()));
        t
    }

    /// Records the event log from now on.
    pub fn log_events(&mut self) -> EventLog {
        let l = EventLog::default();
        self.attach_observer(Box::new(l.clone()));
        l
    }

    /// Sets the total cycle budget (absolute virtual time); `u64::MAX` for none.
    pub fn set_budget(&mut self, cycles: u64) {
        self.eng.set_budget(cycles);
    }

    pub fn now(&self) -> u64 {
        self.eng.now()
    }

    /// SYSCLK now, in Hz.
    pub fn sysclk(&self) -> u32 {
        self.eng.core().st.sysclk
    }

    /// The clock history: SYSCLK from power-on (cycle 0) and at every change since,
    /// as (cycle, Hz), for turning cycles into time ([`crate::vcd::ClockMap`]).
    pub fn clock_history(&self) -> Vec<(u64, u32)> {
        let mut v = vec![(0, self.eng.reset_sysclk())];
        v.extend_from_slice(&self.eng.core().st.clock_log);
        v
    }

    /// Instructions executed since power-on.
    pub fn insns(&self) -> u64 {
        self.eng.core().st.insns
    }

    /// The system resets since power-on, from the `n`-th on.
    pub fn resets_since(&self, n: usize) -> Vec<ResetRecord> {
        self.eng.core().st.resets.get(n..).unwrap_or(&[]).to_vec()
    }

    /// Virtual time in nanoseconds since power-on: cycles converted at the SYSCLK of
    /// each stretch of the run (16 MHz HSI from every reset until the firmware switches).
    pub fn virtual_ns(&self) -> u64 {
        self.eng.virtual_ns()
    }

    /// Runs until virtual time `until` (absolute cycles) or an earlier exit.
    pub fn run_until(&mut self, until: u64) -> Exit {
        self.eng.run_until(until)
    }

    /// Runs to the end: semihosting exit, fault, budget or halt.
    pub fn run(&mut self) -> Exit {
        self.eng.run()
    }
}
