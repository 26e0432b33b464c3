//! The peripheral bus: dispatches accesses in the STM32F405's peripheral space
//! (0x4000_0000-0x5FFF_FFFF) to the device mounted at each 1 KiB block, as the AHB/APB
//! bridges do. Unicorn maps register space in 4 KiB pages; the bus resolves the finer
//! STM32 block boundaries. An address no device answers is a bus error.

use std::collections::BTreeMap;

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
        let mut a = base;
        while a < base.saturating_add(size.max(1)) {
            if let Some(s) = slot(a) {
                self.table[s] = idx;
            }
            a += 0x400;
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
        let mut p: Vec<u32> = Vec::new();
        for m in &self.devices {
            let mut a = m.base & !0xFFF;
            while a < m.base.saturating_add(m.size) {
                if !p.contains(&a) {
                    p.push(a);
                }
                a += 0x1000;
            }
        }
        p.sort();
        p
    }
}

/// A peripheral block the board declares but pybsim does not model yet: registers read
/// back what was written (reset value 0), and the first access logs a warning so users
/// know the behaviour is not the silicon's.
pub struct Unmodelled {
    name: String,
    regs: BTreeMap<u32, u32>,
    warned: bool,
}

impl Unmodelled {
    pub fn new(name: &str) -> Self {
        Unmodelled {
            name: name.to_string(),
            regs: BTreeMap::new(),
            warned: false,
        }
    }

    fn warn(&mut self, ctx: &Ctx, offset: u32) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                target: "periph::unmodelled",
                t = ctx.now,
                device = %self.name,
                offset = format_args!("{offset:#x}"),
                "{} is not modelled yet: registers act as plain storage",
                self.name
            );
        }
    }
}

impl Device for Unmodelled {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        self.warn(ctx, offset);
        let w = self.regs.get(&(offset & !3)).copied().unwrap_or(0);
        Ok(pybsim_peripherals::device::extract(offset, size, w))
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        self.warn(ctx, offset);
        let (o, v, m) = pybsim_peripherals::device::lanes(offset, size, value);
        let e = self.regs.entry(o).or_insert(0);
        *e = (*e & !m) | v;
        Ok(())
    }

    fn reset(&mut self, _ctx: &mut Ctx) {
        self.regs.clear();
    }
}
