//! A peripheral block pybsim does not model yet: its registers read back what was
//! written (reset value 0), and the first access logs a warning so users know the
//! behaviour is not the silicon's. For machines built by hand (tests) and new kinds on
//! their way in.

use std::collections::BTreeMap;

use crate::device::{BusError, Ctx, Device, Size};

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
        Ok(crate::device::extract(offset, size, w))
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        self.warn(ctx, offset);
        let (o, v, m) = crate::device::lanes(offset, size, value);
        let e = self.regs.entry(o).or_insert(0);
        *e = (*e & !m) | v;
        Ok(())
    }

    fn reset(&mut self, _ctx: &mut Ctx) {
        self.regs.clear();
    }
}
