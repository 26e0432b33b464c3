//! Analog stimuli handed to the models as functions of virtual time.
//!
//! `SetVoltage` and `Waveform` events become one [`Signal`] per ADC channel, `SetAccel`
//! events one per accelerometer axis; the session installs them in the ADC and the
//! accelerometer before the run starts. The models evaluate them at the exact virtual
//! instant they sample (the end of an ADC sampling time, an MMA7660 sample tick), so the
//! value does not depend on where the run's slices end, and a run replays exactly.

use pybsim_boards::{adc_channel, Board, Event, Interp as StimInterp};
use pybsim_peripherals::adc::Adc;
use pybsim_peripherals::analog::{Interp, Signal};
use pybsim_peripherals::i2c::I2c;
use pybsim_peripherals::mma7660::Mma7660;

use crate::soc::Machine;

/// Core clock used to turn cycle counts written in a stimuli file into nanoseconds (as
/// the session does for every event).
const STIMULI_HZ: u64 = 168_000_000;

/// Whether `ev` is an analog stimulus (installed up front, not applied at its time).
pub fn is_analog(ev: &Event) -> bool {
    matches!(
        ev,
        Event::SetVoltage { .. } | Event::Waveform { .. } | Event::SetAccel { .. }
    )
}

/// The per-channel voltage signals (µV) and per-axis acceleration signals (µg) that the
/// analog events of `events` describe, in file order (a later event on the same input
/// at the same time wins).
pub fn signals(board: &Board, events: &[Event]) -> ([Option<Signal>; 16], Option<[Signal; 3]>) {
    let mut pins: [Option<Signal>; 16] = Default::default();
    let mut accel: Option<[Signal; 3]> = None;
    for ev in events {
        match ev {
            Event::SetVoltage { at, pin, volts } => {
                if let Some(ch) = board.pin(pin).and_then(adc_channel) {
                    let s = pins[ch as usize].get_or_insert_with(Signal::default);
                    s.set(at.to_nanos(STIMULI_HZ), volts.0);
                }
            }
            Event::Waveform {
                at,
                pin,
                times,
                volts,
                interp,
            } => {
                if let Some(ch) = board.pin(pin).and_then(adc_channel) {
                    let t0 = at.to_nanos(STIMULI_HZ);
                    let points = times
                        .iter()
                        .zip(volts)
                        .map(|(t, v)| (t0.saturating_add(t.to_nanos(STIMULI_HZ)), v.0))
                        .collect();
                    let interp = match interp {
                        StimInterp::Linear => Interp::Linear,
                        StimInterp::Hold => Interp::Hold,
                    };
                    let s = pins[ch as usize].get_or_insert_with(Signal::default);
                    s.table(points, interp);
                }
            }
            Event::SetAccel { at, x, y, z } => {
                let axes = accel.get_or_insert_with(|| {
                    [
                        Signal::constant(0),
                        Signal::constant(0),
                        Signal::constant(1_000_000),
                    ]
                });
                let t = at.to_nanos(STIMULI_HZ);
                for (s, v) in axes.iter_mut().zip([x, y, z]) {
                    s.set(t, v.0);
                }
            }
            _ => {}
        }
    }
    (pins, accel)
}

/// Installs the analog stimuli of `events` in the machine's ADC and accelerometer.
pub fn install(machine: &mut Machine, board: &Board, events: &[Event]) {
    let (pins, accel) = signals(board, events);
    for (ch, s) in pins.into_iter().enumerate() {
        if let Some(s) = s {
            machine.with_device::<Adc, _>("ADC", |a| a.set_signal(ch as u8, s));
        }
    }
    if let (Some(axes), Some(acc)) = (accel, &board.accelerometer) {
        let addr = acc.address;
        machine.with_device::<I2c, _>(&acc.bus, |i| {
            if let Some(m) = i.device_mut::<Mma7660>(addr) {
                for (n, s) in axes.into_iter().enumerate() {
                    m.set_axis(n, s);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_signals_per_channel_and_axis() {
        let board = Board::builtin("pybv11").unwrap();
        let text = r#"Stimuli(events: [
            SetVoltage(at: "1ms", pin: "X19", volts: 1.0),
            Waveform(at: "2ms", pin: "PC0", interp: Hold, times: ["0ms", "1ms"], volts: [2.0, 3.0]),
            SetVoltage(at: "10us", pin: "X1", volts: 0.5),
            SetAccel(at: "5ms", x: 0.5, y: 0.0, z: -1.0),
            PressSwitch(at: "1s"),
        ])"#;
        let st = pybsim_boards::Stimuli::parse(text, "t.ron", &board).unwrap();
        assert!(st.events.iter().filter(|e| is_analog(e)).count() == 4);
        let (pins, accel) = signals(&board, &st.events);
        let x19 = pins[10].as_ref().expect("X19 is PC0, channel 10");
        assert_eq!(x19.at(999_999), 0, "0 V before the first stimulus");
        assert_eq!(x19.at(1_000_000), 1_000_000);
        assert_eq!(
            x19.at(2_500_000),
            2_000_000,
            "waveform times count from `at`; hold"
        );
        assert_eq!(x19.at(3_000_000), 3_000_000);
        assert_eq!(pins[0].as_ref().unwrap().at(10_000), 500_000, "X1 is PA0");
        assert!(pins[1].is_none());
        let [x, y, z] = accel.expect("accelerometer stimuli");
        assert_eq!(
            (x.at(0), y.at(0), z.at(0)),
            (0, 0, 1_000_000),
            "flat until set"
        );
        assert_eq!((x.at(5_000_000), z.at(5_000_000)), (500_000, -1_000_000));
    }

    /// A waveform that starts near the end of time: its point times saturate instead of
    /// overflowing, and the signal still answers.
    #[test]
    fn a_waveform_at_the_end_of_time_does_not_overflow() {
        let board = Board::builtin("pybv11").unwrap();
        let text = r#"Stimuli(events: [
            Waveform(at: "18446744073709551000ns", pin: "X19",
                     times: ["0ns", "1us", "2us"], volts: [1.0, 2.0, 3.0]),
        ])"#;
        let st = pybsim_boards::Stimuli::parse(text, "t.ron", &board).unwrap();
        let (pins, _) = signals(&board, &st.events);
        let s = pins[10].as_ref().unwrap();
        assert_eq!(s.at(0), 0);
        assert_eq!(
            s.at(u64::MAX),
            2_000_000,
            "the saturated points collapse to one"
        );
    }
}
