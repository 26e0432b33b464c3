//! Arbitrary register writes, events and bus-side calls thrown at the models of USB OTG
//! FS, SDIO with an SD card, RTC, the timers, the watchdogs and RNG: none may panic (debug
//! builds check arithmetic overflow) or fire an unbounded number of events at one time.

use crate::device::Clocks;
use crate::otg_fs::{self, OtgFs};
use crate::sdcard::SdCard;
use crate::sdio::Sdio;
use crate::testing::{hammer, FakeBus, Hammer};
use crate::{iwdg, rng, rtc, timer, wwdg};

const CLK: Clocks = crate::testing::PYBOARD;

const SEEDS: u64 = 40;
const STEPS: usize = 3_000;

fn words(span: u32) -> Vec<u32> {
    (0..span).step_by(4).collect()
}

#[test]
fn otg_fs_survives_arbitrary_registers_and_bus_traffic() {
    let mut offs = words(0x100);
    offs.extend((0x100..0x110).step_by(4)); // DIEPTXFn
    offs.extend(words(0x100).iter().map(|o| 0x800 + o));
    offs.extend(words(0x80).iter().map(|o| 0x900 + o));
    offs.extend(words(0x80).iter().map(|o| 0xB00 + o));
    offs.push(0xE00);
    for n in 0..16 {
        offs.push(otg_fs::FIFO + 0x1000 * n);
    }
    offs.push(otg_fs::GRXSTSP);
    offs.push(otg_fs::GRXSTSP);
    for seed in 0..SEEDS {
        let mut b = FakeBus::new(OtgFs::new(), CLK);
        hammer(&mut b, seed, STEPS, &offs, |b, h: &mut Hammer| {
            let addr = h.pick(&[0u8, 1, 2, 0x7F]);
            let ep = h.below(17) as usize;
            let len = h.pick(&[0usize, 1, 8, 63, 64, 65, 1023, 2048]);
            let data: Vec<u8> = (0..len).map(|_| h.next_u64() as u8).collect();
            b.with(|d, ctx| match h.below(8) {
                0 => d.set_vbus(ctx, h.below(2) == 0),
                1 => d.bus_reset(ctx),
                2 => d.bus_reset_end(ctx),
                3 => d.sof(ctx, h.next_u64() as u16),
                4 => {
                    let mut s = [0u8; 8];
                    s.iter_mut().for_each(|x| *x = h.next_u64() as u8);
                    let _ = d.setup(ctx, addr, ep, s);
                }
                5 => {
                    let _ = d.out(ctx, addr, ep, &data);
                }
                _ => {
                    let _ = d.in_token(ctx, addr, ep);
                }
            });
        });
    }
}

/// The SD card's commands with arbitrary arguments in every state, straight and
/// through the SDIO host.
#[test]
fn sdio_and_card_survive_arbitrary_commands() {
    let offs: Vec<u32> = words(0x100);
    for seed in 0..SEEDS {
        // SDSC (64 KiB) and SDHC (1 MiB) images.
        let size = if seed % 2 == 0 { 64 << 10 } else { 1 << 20 };
        let mut sdio = Sdio::new("SDIO");
        sdio.insert(SdCard::new(vec![0x5A; size]).unwrap());
        let mut b = FakeBus::new(sdio, CLK);
        hammer(&mut b, seed, STEPS, &offs, |b, h| {
            let cmd = h.pick(&[
                0u8, 2, 3, 7, 8, 9, 12, 13, 16, 17, 18, 24, 25, 41, 55, 51, 6,
            ]);
            let arg = h.value();
            let now = b.now;
            let clocks = b.clocks;
            if let Some(c) = b.dev.card_mut() {
                if h.below(4) == 0 {
                    let _ = c.command(now, &clocks, h.below(64) as u8, h.value());
                } else {
                    let _ = c.command(now, &clocks, cmd, arg);
                }
                match h.below(3) {
                    0 => {
                        let _ = c.read_block();
                    }
                    1 => {
                        let len = h.pick(&[0usize, 4, 511, 512, 513]);
                        let _ = c.write_block(&vec![0xA5; len]);
                    }
                    _ => {}
                }
            }
        });
    }
}

#[test]
fn rtc_survives_arbitrary_calendar_values() {
    let offs = words(0xA0);
    for seed in 0..SEEDS {
        let mut b = FakeBus::new(rtc::Rtc::new(32_768), CLK);
        hammer(&mut b, seed, STEPS, &offs, |b, h| {
            // Unlock, enter init mode, write arbitrary values, leave.
            b.write32(rtc::WPR, 0xCA);
            b.write32(rtc::WPR, 0x53);
            b.write32(rtc::ISR, rtc::INIT);
            for _ in 0..h.below(4) {
                let off = h.pick(&[
                    rtc::TR,
                    rtc::DR,
                    rtc::PRER,
                    rtc::WUTR,
                    rtc::ALRMAR,
                    rtc::ALRMBR,
                ]);
                let v = h.value();
                b.write32(off, v);
            }
            if h.below(2) == 0 {
                b.write32(rtc::ISR, 0);
            }
            if h.below(2) == 0 {
                b.write32(rtc::CR, h.value());
            }
        });
    }
}

#[test]
fn timers_survive_arbitrary_registers_and_inputs() {
    let offs = words(0x54);
    for seed in 0..SEEDS {
        let n = (seed % 14) as u8 + 1;
        let mut b = FakeBus::new(timer::Timer::new(n), CLK);
        hammer(&mut b, seed, STEPS, &offs, |b, h| {
            let ch = h.below(6) as usize;
            let level = h.below(2) == 0;
            b.with(|d, ctx| d.input_edge(ctx, ch, level));
        });
    }
}

#[test]
fn watchdogs_and_rng_survive_arbitrary_registers() {
    for seed in 0..SEEDS {
        let mut b = FakeBus::new(iwdg::Iwdg::new(32_000), CLK);
        hammer(&mut b, seed, STEPS, &words(0x10), |b, h| {
            let k = h.pick(&[0x5555, 0xAAAA, 0xCCCC]);
            b.write32(iwdg::KR, k);
        });
        let mut b = FakeBus::new(wwdg::Wwdg::new(), CLK);
        hammer(&mut b, seed, STEPS, &words(0x10), |_, _| {});
        let mut b = FakeBus::new(rng::Rng::new(seed), CLK);
        hammer(&mut b, seed, STEPS, &words(0x10), |b, _| {
            b.write32(rng::CR, rng::RNGEN);
        });
    }
}
