//! Register stand-in for a block whose function pybsim does not model yet: the block's
//! RM0090 register table with its reset values and field access kinds, and nothing else.
//!
//! Modelled:
//! - Every register at its offset with its reset value; writes follow the field access
//!   kinds (read-only status bits keep their reset value, rc_w0/rc_w1 flags clear, write-
//!   only fields read 0), so firmware that configures or shuts the block down (e.g. the
//!   official MicroPython firmware's soft reset, which disables SPI, I2C and the DAC)
//!   sees what the silicon shows after reset.
//! - Reserved offsets inside the block read 0 and ignore writes, as on the APB.
//!
//! Not modelled:
//! - The block's function. Every field that would make it act is declared unmodelled, so
//!   the first write that changes one logs a warning naming the block, register and field
//!   (once per field, target `periph::unmodelled`); no status flag ever moves, no
//!   interrupt or DMA request is raised. Drivers that wait for a flag run into their own
//!   timeouts.

use crate::device::{BusError, Ctx, Device, Size};
use crate::regs::{Block, Reg};

/// A block made of its register table only (see the module doc).
pub struct Stub {
    name: String,
    regs: Block,
}

/// Instance names known at compile time, so that the register block's warnings can name
/// the instance (`Block` keeps a `&'static str`).
const INSTANCES: &[&str] = &[
    "SPI1", "SPI2", "SPI3", "I2C1", "I2C2", "I2C3", "DAC", "DMA1", "DMA2", "SDIO", "WWDG",
];

impl Stub {
    /// A stand-in named `name` (as the board file names the instance) built from `table`;
    /// `kind` names the block in logs when the instance is not a known one.
    pub fn new(name: &str, kind: &'static str, table: &'static [Reg]) -> Stub {
        let dev = INSTANCES
            .iter()
            .copied()
            .find(|n| *n == name)
            .unwrap_or(kind);
        Stub {
            name: name.to_string(),
            regs: Block::new(dev, table),
        }
    }

    /// Raw value of the register at `offset` (0 where none is).
    pub fn get(&self, offset: u32) -> u32 {
        self.regs.get_or(offset)
    }
}

impl Device for Stub {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = self.regs.read(offset, size).unwrap_or(0);
        tracing::trace!(target: "periph::stub", t = ctx.now, dev = %self.name,
            reg = self.regs.name_at(offset), val = v, "read");
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        if let Some(w) = self.regs.write(ctx.now, offset, size, value) {
            tracing::trace!(target: "periph::stub", t = ctx.now, dev = %self.name,
                reg = self.regs.reg(w.idx).name, val = w.new, "write");
        }
        Ok(())
    }

    fn reset(&mut self, _ctx: &mut Ctx) {
        self.regs.reset();
    }
}
