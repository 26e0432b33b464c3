//! End-to-end tests of DMA and the DAC through the `pybsim` binary and the default
//! runtime firmware (.cache/firmware/firmware.elf; without it they say so and pass
//! vacuously on a developer machine: CI always builds the firmware first).

use std::path::Path;

mod common;
use common::{firmware, pybsim, script, shared_dir as dir, text};

/// The `--dac-trace` CSV as (cycle, time_ns, channel, code).
fn dac_trace(path: &Path) -> Vec<(u64, u64, u8, u16)> {
    let csv = std::fs::read_to_string(path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("cycle,time_ns,channel,code"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn dac_write_timed_outputs_the_buffer_one_sample_per_period() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "write_timed.py",
        "import pyb\n\
         buf = bytearray([10, 20, 30, 40, 250])\n\
         d = pyb.DAC(1)\n\
         d.write_timed(buf, 1000)\n\
         pyb.delay(8)\n\
         d2 = pyb.DAC(2, bits=12)\n\
         d2.write(0x123)\n\
         pyb.delay(1)\n\
         print(d, d2)\n",
    );
    let csv = dir().join("dac.csv");
    let vcd = dir().join("dac.vcd");
    let o = pybsim(&[
        "run",
        "--dac-trace",
        csv.to_str().unwrap(),
        "--vcd",
        vcd.to_str().unwrap(),
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "DAC(1, bits=8) DAC(2, bits=12)\n");
    let t = dac_trace(&csv);
    let ch1: Vec<_> = t.iter().filter(|s| s.2 == 1).collect();
    // The first trigger outputs the holding register's old value (0), then the buffer
    // (8-bit samples are the top 8 bits of the 12-bit code), then the last value again.
    let codes: Vec<u16> = ch1.iter().map(|s| s.3).take(7).collect();
    assert_eq!(codes, vec![0, 160, 320, 480, 640, 4000, 4000]);
    // TIM6 at 1 kHz: exactly 168 000 cycles (1 ms at 168 MHz) between samples.
    for w in ch1.windows(2) {
        assert_eq!(w[1].0 - w[0].0, 168_000, "{w:?}");
        assert_eq!(w[1].1 - w[0].1, 1_000_000, "{w:?}");
    }
    assert!(ch1.len() >= 8, "{t:?}");
    // DAC(2).write: one sample, one APB1 cycle (4 CPU cycles) after the DHR write.
    let ch2: Vec<_> = t.iter().filter(|s| s.2 == 2).map(|s| s.3).collect();
    assert_eq!(ch2.last(), Some(&0x123), "{t:?}");
    // The default dump: each DAC channel as twelve 1-bit wires (sigrok reads no
    // vectors); the 250 sample (4000 = 1111 1010 0000) sets bits 11-7 and 5.
    let v = std::fs::read_to_string(&vcd).unwrap();
    assert!(!v.lines().any(|l| l.starts_with('b')), "{v}");
    for bit in 0..12 {
        assert!(v.contains(&format!(" DAC1_PA4[{bit}] $end")), "{v}");
        assert!(v.contains(&format!(" DAC2_PA5[{bit}] $end")), "{v}");
    }
    let code_at = |v: &str, ch: &str| -> Vec<u16> {
        // The channel's code after each time stamp at which one of its bits changed.
        let ids: Vec<(String, u32)> = (0..12)
            .map(|bit| {
                let name = format!(" {ch}[{bit}] $end");
                let l = v.lines().find(|l| l.ends_with(&name)).unwrap();
                (l.split_whitespace().nth(3).unwrap().to_string(), bit)
            })
            .collect();
        let mut code = 0u16;
        let mut codes = Vec::new();
        let mut changed = false;
        for l in v.lines().skip_while(|l| !l.starts_with("$enddefinitions")) {
            if l.starts_with('#') {
                if changed {
                    codes.push(code);
                }
                changed = false;
            } else if let Some((id, bit)) = ids.iter().find(|(id, _)| l.len() > 1 && &l[1..] == id)
            {
                let _ = id;
                match &l[..1] {
                    "1" => code |= 1 << bit,
                    "0" => code &= !(1 << bit),
                    _ => continue,
                }
                changed = true;
            }
        }
        if changed {
            codes.push(code);
        }
        codes
    };
    let codes = code_at(&v, "DAC1_PA4");
    assert_eq!(&codes[..6], &[0, 160, 320, 480, 640, 4000], "{codes:?}");
    assert_eq!(code_at(&v, "DAC2_PA5").last(), Some(&0x123));
    // With --vcd-vectors: 12-bit vectors and the cycle counter.
    let vcd2 = dir().join("dac-vectors.vcd");
    let o = pybsim(&[
        "run",
        "--vcd",
        vcd2.to_str().unwrap(),
        "--vcd-vectors",
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let v = std::fs::read_to_string(&vcd2).unwrap();
    assert!(v.contains("$var integer 64 ! cycle $end"), "{v}");
    assert!(
        v.contains("$var wire 12 ") && v.contains(" DAC1_PA4 $end"),
        "{v}"
    );
    assert!(v.contains(" DAC2_PA5 $end"), "{v}");
    assert!(
        v.contains("b111110100000 "),
        "the 250 sample (4000) is in the dump"
    );
    // --vcd-vectors needs --vcd.
    let o = pybsim(&["run", "--vcd-vectors", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(64));
}

#[test]
fn dac_write_timed_circular_repeats_the_buffer() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "circular.py",
        "import pyb, array\n\
         buf = array.array('H', [100, 4095, 2048])\n\
         d = pyb.DAC(1, bits=12)\n\
         d.write_timed(buf, 10000, mode=pyb.DAC.CIRCULAR)\n\
         pyb.delay(2)\n\
         d.deinit()\n",
    );
    let csv = dir().join("circ.csv");
    let o = pybsim(&[
        "run",
        "--dac-trace",
        csv.to_str().unwrap(),
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let t = dac_trace(&csv);
    let codes: Vec<u16> = t.iter().map(|s| s.3).collect();
    assert!(codes.len() >= 12, "{codes:?}");
    assert_eq!(
        &codes[..10],
        &[0, 100, 4095, 2048, 100, 4095, 2048, 100, 4095, 2048]
    );
    for w in t.windows(2) {
        assert_eq!(w[1].0 - w[0].0, 16_800, "10 kHz: {w:?}");
    }
}

/// USART6 sends a buffer by DMA (DMA2 stream 7 channel 5) and receives it through the
/// Y1-Y2 wire by DMA (DMA2 stream 1 channel 5); memory-to-memory on DMA2 stream 0; a
/// transfer from CCM RAM, which the DMA cannot reach, ends in a transfer error.
#[test]
fn uart_by_dma_memory_to_memory_and_a_transfer_error() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "uart_dma.py",
        "import pyb, stm, uctypes\n\
         DMA2 = 0x40026400\n\
         U6 = 0x40011400\n\
         def S(x):\n    return DMA2 + 0x10 + 0x18 * x\n\
         def start(x, cr, n, par, m0ar, fcr=0x21):\n\
         \x20   stm.mem32[S(x) + 4] = n\n\
         \x20   stm.mem32[S(x) + 8] = par\n\
         \x20   stm.mem32[S(x) + 12] = m0ar\n\
         \x20   stm.mem32[S(x) + 20] = fcr\n\
         \x20   stm.mem32[S(x)] = cr | 1\n\
         stm.mem32[0x40023830] |= 1 << 22\n\
         u = pyb.UART(6, 115200)\n\
         stm.mem32[U6 + 0x0c] &= ~(1 << 5)\n\
         src = bytearray(b'DMA-sent')\n\
         dst = bytearray(8)\n\
         start(1, (5 << 25) | (1 << 10), 8, U6 + 4, uctypes.addressof(dst))\n\
         start(7, (5 << 25) | (1 << 10) | (1 << 6), 8, U6 + 4, uctypes.addressof(src))\n\
         stm.mem32[U6 + 0x14] |= (1 << 7) | (1 << 6)\n\
         pyb.delay(2)\n\
         print(dst, hex(stm.mem32[DMA2]), hex(stm.mem32[DMA2 + 4]), stm.mem32[S(1) + 4])\n\
         stm.mem32[DMA2 + 8] = 0x0f7d0f7d\n\
         stm.mem32[DMA2 + 12] = 0x0f7d0f7d\n\
         a = bytearray(range(64))\n\
         b = bytearray(64)\n\
         start(0, (2 << 11) | (2 << 13) | (3 << 9) | (2 << 6), 16, uctypes.addressof(a), uctypes.addressof(b), 0x07)\n\
         while stm.mem32[S(0)] & 1:\n    pass\n\
         print(a == b, hex(stm.mem32[DMA2]))\n\
         stm.mem32[DMA2 + 8] = 0x3d\n\
         start(0, (2 << 11) | (2 << 13) | (3 << 9) | (2 << 6), 4, 0x10000000, uctypes.addressof(b), 0x07)\n\
         while stm.mem32[S(0)] & 1:\n    pass\n\
         print(hex(stm.mem32[DMA2]))\n",
    );
    let o = pybsim(&["run", "--wire", "Y1:Y2", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    // LISR: stream 1 HTIF|TCIF (bits 10, 11); HISR: stream 7 HTIF|TCIF (bits 26, 27);
    // then stream 0 HTIF|TCIF (bits 4, 5); then TEIF (bit 3).
    assert_eq!(
        text(&o.stdout),
        "bytearray(b'DMA-sent') 0xc00 0xc000000 0\nTrue 0x30\n0x8\n"
    );
}

#[test]
fn dac_triangle_steps_by_one_per_trigger() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "triangle.py",
        "import pyb\nd = pyb.DAC(2, bits=12)\nd.triangle(100000)\npyb.udelay(1000)\nd.deinit()\n",
    );
    let csv = dir().join("tri.csv");
    let o = pybsim(&[
        "run",
        "--dac-trace",
        csv.to_str().unwrap(),
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let t = dac_trace(&csv);
    assert!(t.len() >= 90, "{t:?}");
    for (i, w) in t.windows(2).enumerate() {
        assert_eq!(w[0].2, 2);
        assert_eq!(w[0].3 as usize, i + 1, "{w:?}");
        assert_eq!(w[1].0 - w[0].0, 1_680, "100 kHz: {w:?}");
    }
}
