//! Register tables: one const table per block, from which generic code derives reset
//! values, write masks, clear-on-write behaviour, sub-word lane handling and trace names.
//!
//! A block declares its registers as a `&'static [Reg]`, each with its RM0090 name, byte
//! offset, reset value and fields. Field access kinds follow RM0090's conventions:
//!
//! | kind | write | read |
//! |---|---|---|
//! | `Rw` | stores | value |
//! | `R` | ignored | value (set by hardware) |
//! | `W` | stores until the model acts on it | 0 |
//! | `Rc0` (rc_w0) | 0 clears, 1 no effect | value |
//! | `Rc1` (rc_w1) | 1 clears, 0 no effect | value |
//! | `Rs` | 1 sets, 0 no effect (hardware clears) | value |
//! | `T` | 1 toggles, 0 no effect | value |
//!
//! Fields marked unmodelled (`Field::unmodelled`) are stored as their kind says, but a
//! write that changes one logs a warning once per field (target `periph::unmodelled`).
//! [`Block`] keeps the values and does the generic write; the model handles the side
//! effects by comparing the old and new values it returns.

use crate::device::{lanes, Size};

/// Access kind of a field, as RM0090 prints it under each bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Rw,
    R,
    W,
    /// rc_w0: cleared by writing 0.
    Rc0,
    /// rc_w1: cleared by writing 1.
    Rc1,
    /// rs: set by software writing 1, cleared by hardware.
    Rs,
    /// t: toggled by writing 1.
    T,
}

/// One field of a register.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub lsb: u8,
    pub width: u8,
    pub access: Access,
    /// Known but not modelled: stored, warned about once when changed.
    pub modelled: bool,
}

impl Field {
    pub const fn mask(&self) -> u32 {
        if self.width >= 32 {
            u32::MAX
        } else {
            ((1u32 << self.width) - 1) << self.lsb
        }
    }
}

/// A modelled field.
pub const fn f(name: &'static str, lsb: u8, width: u8, access: Access) -> Field {
    Field {
        name,
        lsb,
        width,
        access,
        modelled: true,
    }
}

/// A known field whose behaviour is not modelled (stored; warns once when changed).
pub const fn unmodelled(name: &'static str, lsb: u8, width: u8, access: Access) -> Field {
    Field {
        name,
        lsb,
        width,
        access,
        modelled: false,
    }
}

/// One register of a block.
#[derive(Debug, Clone, Copy)]
pub struct Reg {
    pub offset: u32,
    pub name: &'static str,
    pub reset: u32,
    pub fields: &'static [Field],
}

/// Masks derived from a register's fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Masks {
    pub rw: u32,
    pub r: u32,
    pub w: u32,
    pub rc0: u32,
    pub rc1: u32,
    pub rs: u32,
    pub t: u32,
    pub unmodelled: u32,
}

impl Masks {
    pub const fn of(fields: &[Field]) -> Masks {
        let mut m = Masks {
            rw: 0,
            r: 0,
            w: 0,
            rc0: 0,
            rc1: 0,
            rs: 0,
            t: 0,
            unmodelled: 0,
        };
        let mut i = 0;
        while i < fields.len() {
            let fm = fields[i].mask();
            match fields[i].access {
                Access::Rw => m.rw |= fm,
                Access::R => m.r |= fm,
                Access::W => m.w |= fm,
                Access::Rc0 => m.rc0 |= fm,
                Access::Rc1 => m.rc1 |= fm,
                Access::Rs => m.rs |= fm,
                Access::T => m.t |= fm,
            }
            if !fields[i].modelled {
                m.unmodelled |= fm;
            }
            i += 1;
        }
        m
    }

    /// The value after a write of `val` (already shifted into its lanes) under the lane
    /// mask `lane` to a register holding `old`.
    #[inline]
    pub fn apply(&self, old: u32, val: u32, lane: u32) -> u32 {
        let store = (self.rw | self.w) & lane;
        let mut new = (old & !store) | (val & store);
        new |= val & self.rs & lane;
        new &= !(!val & self.rc0 & lane);
        new &= !(val & self.rc1 & lane);
        new ^= val & self.t & lane;
        new
    }
}

/// Outcome of a generic write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Index of the register in the table.
    pub idx: usize,
    pub old: u32,
    pub new: u32,
    /// The written value shifted into its byte lanes.
    pub val: u32,
    /// The byte lanes written.
    pub lane: u32,
}

/// The register values of one block instance, driven by its table.
#[derive(Debug, Clone)]
pub struct Block {
    dev: &'static str,
    table: &'static [Reg],
    masks: Vec<Masks>,
    /// Word offset (offset / 4) to index into `table`, `u16::MAX` where no register is.
    index: Vec<u16>,
    vals: Vec<u32>,
    /// Per register, bit `lsb` set once the field at `lsb` has been warned about.
    warned: Vec<u32>,
}

const NONE: u16 = u16::MAX;

impl Block {
    pub fn new(dev: &'static str, table: &'static [Reg]) -> Block {
        let words = table.iter().map(|r| r.offset / 4 + 1).max().unwrap_or(0) as usize;
        let mut index = vec![NONE; words];
        for (i, r) in table.iter().enumerate() {
            debug_assert_eq!(r.offset & 3, 0, "{dev}: {} not word aligned", r.name);
            debug_assert_eq!(
                index[(r.offset / 4) as usize],
                NONE,
                "{dev}: {} twice",
                r.name
            );
            index[(r.offset / 4) as usize] = i as u16;
        }
        Block {
            dev,
            table,
            masks: table.iter().map(|r| Masks::of(r.fields)).collect(),
            index,
            vals: table.iter().map(|r| r.reset).collect(),
            warned: vec![0; table.len()],
        }
    }

    pub fn dev(&self) -> &'static str {
        self.dev
    }

    /// Every register back to its reset value (the warn-once memory is kept).
    pub fn reset(&mut self) {
        for (v, r) in self.vals.iter_mut().zip(self.table) {
            *v = r.reset;
        }
    }

    /// Index of the register at `offset` (any byte inside it).
    #[inline]
    pub fn find(&self, offset: u32) -> Option<usize> {
        match self.index.get((offset / 4) as usize) {
            Some(&i) if i != NONE => Some(i as usize),
            _ => None,
        }
    }

    pub fn reg(&self, idx: usize) -> &'static Reg {
        &self.table[idx]
    }

    pub fn masks(&self, idx: usize) -> &Masks {
        &self.masks[idx]
    }

    /// Name of the register at `offset`, for traces ("?" when none).
    pub fn name_at(&self, offset: u32) -> &'static str {
        self.find(offset).map_or("?", |i| self.table[i].name)
    }

    /// Raw stored value of the register at `offset`. Panics if there is none (models use
    /// their own offset constants).
    #[inline]
    pub fn get(&self, offset: u32) -> u32 {
        self.vals[self.find(offset).expect("no register at offset")]
    }

    /// Raw stored value at `offset`, 0 where no register is.
    #[inline]
    pub fn get_or(&self, offset: u32) -> u32 {
        self.find(offset).map_or(0, |i| self.vals[i])
    }

    /// Stores a raw value (hardware side, no access rules).
    #[inline]
    pub fn set(&mut self, offset: u32, val: u32) {
        let i = self.find(offset).expect("no register at offset");
        self.vals[i] = val;
    }

    /// Sets or clears `mask` bits (hardware side).
    #[inline]
    pub fn set_bits(&mut self, offset: u32, mask: u32, on: bool) {
        let i = self.find(offset).expect("no register at offset");
        if on {
            self.vals[i] |= mask;
        } else {
            self.vals[i] &= !mask;
        }
    }

    #[inline]
    pub fn bit(&self, offset: u32, mask: u32) -> bool {
        self.get(offset) & mask != 0
    }

    /// Value a read sees (write-only fields read as 0), right-aligned for `size`.
    #[inline]
    pub fn read(&self, offset: u32, size: Size) -> Option<u32> {
        let i = self.find(offset)?;
        let word = self.vals[i] & !self.masks[i].w;
        Some(crate::device::extract(offset, size, word))
    }

    /// The generic write: applies the field access rules to the written lanes and
    /// stores the result. `None` when no register is at `offset`. `t` is the virtual
    /// time, for the warn-once log of unmodelled fields.
    #[inline]
    pub fn write(&mut self, t: u64, offset: u32, size: Size, value: u32) -> Option<Written> {
        let i = self.find(offset)?;
        let (_, val, lane) = lanes(offset, size, value);
        let old = self.vals[i];
        let new = self.masks[i].apply(old, val, lane);
        self.vals[i] = new;
        let touched = (old ^ new) & self.masks[i].unmodelled;
        if touched != 0 {
            self.warn_unmodelled(t, i, touched);
        }
        Some(Written {
            idx: i,
            old,
            new,
            val,
            lane,
        })
    }

    #[cold]
    fn warn_unmodelled(&mut self, t: u64, i: usize, touched: u32) {
        let reg = &self.table[i];
        for fld in reg.fields.iter().filter(|fld| !fld.modelled) {
            let bit = 1u32 << fld.lsb;
            if touched & fld.mask() != 0 && self.warned[i] & bit == 0 {
                self.warned[i] |= bit;
                tracing::warn!(
                    target: "periph::unmodelled",
                    t,
                    dev = self.dev,
                    reg = reg.name,
                    field = fld.name,
                    "field written but not modelled (warned once)"
                );
            }
        }
    }
}

/// Logs a guest error: the firmware did something the silicon does not allow.
#[cold]
pub fn guest_error(dev: &str, t: u64, what: &str) {
    tracing::warn!(target: "periph::guest_error", t, dev, "{what}");
}

/// Logs that the emulator does not model something the firmware used.
#[cold]
pub fn unimplemented(dev: &str, t: u64, what: &str) {
    tracing::warn!(target: "periph::unimplemented", t, dev, "{what}");
}

#[cfg(test)]
mod tests {
    use super::Access::*;
    use super::*;

    const TABLE: &[Reg] = &[
        Reg {
            offset: 0x00,
            name: "CR",
            reset: 0x0000_0083,
            fields: &[
                f("ON", 0, 1, Rw),
                f("RDY", 1, 1, R),
                f("TRIM", 3, 5, Rw),
                f("GO", 16, 1, Rs),
                unmodelled("CSS", 19, 1, Rw),
            ],
        },
        Reg {
            offset: 0x08,
            name: "SR",
            reset: 0x0000_00C0,
            fields: &[
                f("A", 0, 1, Rc1),
                f("B", 6, 1, Rc0),
                f("C", 7, 1, Rc0),
                f("K", 16, 16, W),
                f("TG", 8, 1, T),
            ],
        },
    ];

    #[test]
    fn reset_masks_and_access_kinds() {
        let mut b = Block::new("X", TABLE);
        assert_eq!(b.get(0), 0x83);
        assert_eq!(b.find(4), None);
        assert_eq!(b.find(0x0b), Some(1));
        // R bit cannot be written, Rw stored, Rs only sets.
        let w = b.write(0, 0, Size::Word, 0x0001_0000).unwrap();
        assert_eq!((w.old, w.new), (0x83, 0x0001_0002));
        b.write(0, 0, Size::Word, 0).unwrap();
        assert_eq!(b.get(0) & 0x0001_0000, 0x0001_0000, "rs not cleared by 0");
        b.set(8, 0xC1);
        b.write(0, 8, Size::Word, 0x0000_0080).unwrap(); // rc_w0: clears B, keeps C; rc_w1 0
        assert_eq!(b.get(8), 0x81);
        b.write(0, 8, Size::Word, 0x0000_0081).unwrap(); // rc_w1 clears A
        assert_eq!(b.get(8), 0x80);
        b.write(0, 8, Size::Word, 0x1234_0180).unwrap(); // W stored, reads 0; T toggles
        assert_eq!(b.get(8), 0x1234_0180);
        assert_eq!(b.read(8, Size::Word), Some(0x180));
    }

    #[test]
    fn sub_word_writes_only_touch_their_lanes() {
        let mut b = Block::new("X", TABLE);
        b.set(8, 0xC0);
        // A byte write of 0x00 to byte 1 must not clear rc_w0 bits in byte 0.
        b.write(0, 9, Size::Byte, 0x00).unwrap();
        assert_eq!(b.get(8), 0xC0);
        b.write(0, 8, Size::Byte, 0x80).unwrap();
        assert_eq!(b.get(8), 0x80);
        assert_eq!(b.read(0x0a, Size::Half), Some(0));
        assert_eq!(b.read(0x00, Size::Byte), Some(0x83));
    }
}
