//! Model constructors given a block the STM32F405 does not have return an error instead
//! of panicking (a board file's `GPIOZ`, `TIM99` or `USART7` used to end pybsim with
//! exit 101; issue 22).

use pybsim_peripherals::gpio::Gpio;
use pybsim_peripherals::timer::{self, Timer};
use pybsim_peripherals::usart::{self, Usart};
use pybsim_peripherals::Device;

#[test]
fn gpio_ports() {
    for port in 0..9 {
        assert!(Gpio::try_new(port).is_ok(), "port {port}");
    }
    for port in [9, 25, 255] {
        let e = Gpio::try_new(port).err().expect("no such port");
        let msg = e.to_string();
        assert!(msg.contains(&format!("GPIO port {port}")), "{msg}");
        assert!(msg.contains("GPIOA-GPIOI"), "{msg}");
    }
}

#[test]
fn timers() {
    for n in 1..=14 {
        let t = Timer::try_new(n).unwrap();
        assert_eq!(t.name(), format!("TIM{n}"));
        assert_eq!(timer::instance(n).unwrap().n, n);
    }
    for n in [0, 15, 99, 255] {
        assert!(timer::instance(n).is_none());
        let msg = Timer::try_new(n).err().expect("no such timer").to_string();
        assert!(msg.contains(&format!("TIM{n} ")), "{msg}");
        assert!(msg.contains("TIM1-TIM14"), "{msg}");
    }
}

#[test]
fn uarts() {
    for n in 1..=6 {
        let u = Usart::try_new(n).unwrap();
        assert_eq!(u.name(), usart::instance(n).unwrap().0);
    }
    for n in [0, 7, 200] {
        assert!(usart::instance(n).is_none());
        let msg = Usart::try_new(n).err().expect("no such UART").to_string();
        assert!(msg.contains(&format!("U(S)ART{n} ")), "{msg}");
    }
}
