//! The peripheral bus: dispatches accesses in the STM32F405's peripheral space
//! (0x4000_0000-0x5FFF_FFFF) to the device mounted at each 1 KiB block, as the AHB/APB
//! bridges do. Unicorn maps register space in 4 KiB pages; the bus resolves the finer
//! STM32 block boundaries. An address no device answers is a bus error.

use pybsim_peripherals::{BusError, Ctx, Device, Size};

/// One mounted device.
pub struct Mounted {
    pub name: String,
    pub base: u32,
    pub size: u32,
    pub dev: Box<dyn Device>,
}

/// Index of the 1 KiB block of `addr` in the bus table, for the two windows that hold
/// STM32F405 peripherals: 0x4000_0000-0x4007_FFFF (APB1, APB2, AHB1) and
/// 0x5000_0000-0x5007_FFFF (AHB2).
fn slot(addr: u32) -> Option<usize> {
    match addr >> 19 {
        0x800 => Some(((addr - 0x4000_0000) >> 10) as usize),
        0xA00 => Some(512 + ((addr - 0x5000_0000) >> 10) as usize),
        _ => None,
    }
}

pub struct Bus {
    pub devices: Vec<Mounted>,
    table: Vec<u16>,
}

const NONE: u16 = u16::MAX;

impl Default for Bus {
    fn default() -> Self {
        Bus {
            devices: Vec::new(),
            table: vec![NONE; 1024],
        }
    }
}

impl Bus {
    /// Mounts `dev` at `base` (1 KiB aligned) spanning `size` bytes. Returns its index.
    pub fn mount(&mut self, name: &str, base: u32, size: u32, dev: Box<dyn Device>) -> u16 {
        let idx = self.devices.len() as u16;
        // Only the blocks of the two bus windows can answer: walk those (in u64, so a
        // device ending at 4 GiB cannot wrap around).
        let (start, end) = (base as u64, base as u64 + size.max(1) as u64);
        for (w0, w1) in [(0x4000_0000u64, 0x4008_0000u64), (0x5000_0000, 0x5008_0000)] {
            let mut a = start.max(w0) & !0x3FF;
            while a < end.min(w1) {
                if let Some(s) = slot(a as u32) {
                    self.table[s] = idx;
                }
                a += 0x400;
            }
        }
        self.devices.push(Mounted {
            name: name.to_string(),
            base,
            size,
            dev,
        });
        idx
    }

    /// The device answering `addr`, with the offset inside its block.
    #[inline]
    pub fn find(&self, addr: u32) -> Option<(u16, u32)> {
        let s = slot(addr)?;
        let idx = self.table[s];
        if idx == NONE {
            return None;
        }
        let m = &self.devices[idx as usize];
        Some((idx, addr - m.base))
    }

    pub fn read(&mut self, ctx: &mut Ctx, addr: u32, size: Size) -> Result<(u16, u32), BusError> {
        let (idx, off) = self.find(addr).ok_or(BusError { offset: addr, size })?;
        let v = self.devices[idx as usize].dev.read(ctx, off, size)?;
        Ok((idx, v))
    }

    pub fn write(
        &mut self,
        ctx: &mut Ctx,
        addr: u32,
        size: Size,
        value: u32,
    ) -> Result<u16, BusError> {
        let (idx, off) = self.find(addr).ok_or(BusError { offset: addr, size })?;
        self.devices[idx as usize]
            .dev
            .write(ctx, off, size, value)?;
        Ok(idx)
    }

    pub fn index_of(&self, name: &str) -> Option<u16> {
        self.devices
            .iter()
            .position(|m| m.name == name)
            .map(|i| i as u16)
    }

    /// The model mounted as `name`, as its concrete type.
    pub fn get_mut<T: Device>(&mut self, name: &str) -> Option<&mut T> {
        let i = self.index_of(name)?;
        let d: &mut dyn std::any::Any = self.devices[i as usize].dev.as_mut();
        d.downcast_mut::<T>()
    }

    /// 4 KiB pages that hold at least one device (for mapping them as MMIO).
    pub fn pages(&self) -> Vec<u32> {
        let mut p = std::collections::BTreeSet::new();
        for m in &self.devices {
            let (start, end) = (m.base as u64, m.base as u64 + m.size as u64);
            // Pages that can hold a device's registers: those of the bus windows.
            for (w0, w1) in [(0x4000_0000u64, 0x4008_0000u64), (0x5000_0000, 0x5008_0000)] {
                let mut a = start.max(w0) & !0xFFF;
                while a < end.min(w1) {
                    p.insert(a as u32);
                    a += 0x1000;
                }
            }
        }
        p.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybsim_peripherals::unmodelled::Unmodelled;

    #[test]
    fn devices_at_the_top_of_the_address_space_or_huge_ones_mount_at_once() {
        let mut b = Bus::default();
        // Ends at 4 GiB: the walk used to wrap and loop forever.
        b.mount("TOP", 0xFFFF_F000, 0x1000, Box::new(Unmodelled::new("TOP")));
        // 2 GiB: the page list used to be quadratic in its size.
        b.mount(
            "HUGE",
            0x4000_0000,
            0x8000_0000,
            Box::new(Unmodelled::new("HUGE")),
        );
        assert_eq!(b.find(0x4000_0004), Some((1, 4)));
        assert_eq!(b.find(0x5007_FC00), Some((1, 0x1007_FC00)));
        let pages = b.pages();
        assert_eq!(
            pages.len(),
            2 * 0x80,
            "the two bus windows' pages, once each"
        );
        assert_eq!(pages.first(), Some(&0x4000_0000));
    }
}
