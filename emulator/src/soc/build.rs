//! Builds a machine from a board description: mounts the peripheral models at the
//! board's addresses, and wires pins (`--wire`, the board's default wiring) and the
//! UART lines that run over them. The board's accelerometer (an MMA7660) hangs on its
//! I2C bus and is powered while the firmware drives its supply pin high.

use pybsim_boards::{AccelModel, Board, PeripheralKind, PinId};
use pybsim_peripherals::mma7660::Mma7660;
use pybsim_peripherals::registry::{self, ModelParams};
use pybsim_peripherals::Device;

use super::{Machine, MachineConfig, MachineError};

/// Alternate-function UART pins of the STM32F405 (datasheet DS8626, Table 9), as
/// (pin, UART number, is TX).
const UART_PINS: &[(u8, u8, u8, bool)] = &[
    (1, 6, 1, true),   // PB6 USART1_TX AF7
    (1, 7, 1, false),  // PB7 USART1_RX
    (0, 9, 1, true),   // PA9 USART1_TX
    (0, 10, 1, false), // PA10 USART1_RX
    (0, 2, 2, true),   // PA2 USART2_TX
    (0, 3, 2, false),  // PA3 USART2_RX
    (1, 10, 3, true),  // PB10 USART3_TX
    (1, 11, 3, false), // PB11 USART3_RX
    (0, 0, 4, true),   // PA0 UART4_TX AF8
    (0, 1, 4, false),  // PA1 UART4_RX
    (2, 12, 5, true),  // PC12 UART5_TX
    (3, 2, 5, false),  // PD2 UART5_RX
    (2, 6, 6, true),   // PC6 USART6_TX AF8
    (2, 7, 6, false),  // PC7 USART6_RX
];

/// An I2C block with the board's devices on its bus (the accelerometer).
fn i2c_with_devices(board: &Board, name: &str) -> Box<dyn Device> {
    let mut bus = pybsim_peripherals::i2c::new(name);
    if let Some(acc) = board.accelerometer.as_ref().filter(|a| a.bus == name) {
        match acc.model {
            AccelModel::Mma7660 => bus.attach(acc.address, Box::new(Mma7660::new())),
        }
    }
    Box::new(bus)
}

/// Builds the machine for `board` with the extra `wires`.
pub fn build(board: &Board, wires: &[(PinId, PinId)]) -> Result<Machine, MachineError> {
    let params = ModelParams {
        hse_hz: board.clocks.hse_hz,
        lse_hz: board.clocks.lse_hz,
        lsi_hz: board.clocks.lsi_hz,
    };
    let mut devices = Vec::new();
    for p in &board.peripherals {
        let dev = match p.kind {
            PeripheralKind::I2c => i2c_with_devices(board, &p.name),
            _ => registry::make(p.kind, &p.name, &params).map_err(|e| {
                MachineError::Peripheral(format!("{}: peripheral {}: {e}", board.name, p.name))
            })?,
        };
        devices.push((p.name.clone(), p.base, p.size, dev));
    }
    let m = Machine::new(MachineConfig {
        devices,
        ..Default::default()
    })?;
    let mut all: Vec<(PinId, PinId)> = wires.to_vec();
    for w in &board.wiring {
        if let Ok(pair) = board.resolve_wire(w) {
            all.push(pair);
        }
    }
    m.with_soc(|s| {
        // The accelerometer is powered by a pin (the Pyboard's PB5 drives its AVDD).
        if let Some(acc) = &board.accelerometer {
            let pin = board.pin(&acc.power_pin);
            if let (Some(pin), Some(idx)) = (pin, s.bus.index_of(&acc.bus)) {
                s.pin_power.push(((pin.port, pin.pin), idx, acc.address));
            }
        }
        for &(a, b) in &all {
            s.pin_wires.push(((a.port, a.pin), (b.port, b.pin)));
            s.pin_wires.push(((b.port, b.pin), (a.port, a.pin)));
            // A UART TX pin wired to a UART RX pin carries its frames.
            for (x, y) in [(a, b), (b, a)] {
                let tx = UART_PINS
                    .iter()
                    .find(|p| p.0 == x.port && p.1 == x.pin && p.3)
                    .map(|p| p.2);
                let rx = UART_PINS
                    .iter()
                    .find(|p| p.0 == y.port && p.1 == y.pin && !p.3)
                    .map(|p| p.2);
                if let (Some(t), Some(r)) = (tx, rx) {
                    s.uart_route[t as usize] = Some(r);
                }
            }
        }
    });
    Ok(m)
}
