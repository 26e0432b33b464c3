//! `pybsim profile`: exact cycle attribution to firmware functions and Python functions,
//! and a list of garbage collections.
//!
//! # Method
//!
//! Every block the CPU runs is reported to an [`Observer`] with its virtual start time.
//! The cycles between two consecutive reports (the block's own cost plus anything the
//! machine added before the next one: exception entry and exit, sleep in WFI) are charged
//! to the innermost frame of a *shadow call stack*. Nothing is sampled: the charged cycles
//! add up to the run's cycle count exactly.
//!
//! The shadow stack is kept from the firmware's ELF function symbols (address -> function
//! through a table with one entry per halfword of the text):
//!
//! - a block at a function's first instruction is a call: pushed when the link register
//!   points into the function on top of the stack (BL/BLX); when LR points into a function
//!   deeper in the stack, the top functions made a tail call (B to another function with
//!   LR passed through) and are popped first;
//! - a block inside a function deeper in the stack is a return (or a longjmp: `nlr_jump`)
//!   to it: the frames above are popped;
//! - a block elsewhere (in no frame of the stack, not at an entry) replaces the top frame
//!   (a tail branch into the middle of a function);
//! - exception entry pushes an `[exception N]` frame (its entry cost is charged to it), the
//!   return pops it (its exit cost too); the searches of the rules above never go below
//!   the innermost exception frame, so handlers do not disturb the interrupted stack.
//!   Tail-chained exceptions are found from the handler's EXC_RETURN link register and IPSR.
//!
//! Python functions are frames of the same stack, read from the interpreter's memory:
//! at the entry of `mp_execute_bytecode`, `r0` is the `mp_code_state_t` whose `fun_bc`
//! names the function (simple name from the bytecode prelude through the module's qstr
//! table; module from its globals' `__name__`); at the entry of `fun_native_call`,
//! `fun_viper_call` and `fun_asm_call`, `r0` is the function object, whose machine code
//! address is noted: the block at that RAM address pushes the Python frame (names of viper
//! and asm functions, which have no prelude, come from the module's globals). RAM code
//! blocks belong to the innermost RAM frame.
//!
//! Garbage collections are the frames of `gc_collect`: the trigger is its caller
//! (`py_gc_collect`: `gc.collect()`; `gc_alloc`: an allocation that failed or crossed the
//! threshold), heap use before and after is counted in the allocation table, whose place
//! is computed from the arguments of `gc_init` (MicroPython 1.25 layout with finalisers).
//!
//! # Limits
//!
//! - Code that reaches a function's first instruction by a branch that is not a call (a
//!   loop back to the entry of a leaf function) counts as a call of it. Functions entered
//!   in the middle by hand-written assembly, or exits through something else than a return
//!   to a caller, a longjmp or an exception return, are guessed by the rules above.
//! - Inlined functions are charged to the function they were inlined into; functions
//!   without a symbol (or outside the ELF's text) are charged to `[unknown]`.
//! - Python names are read with MicroPython 1.25's structure layouts (32-bit, object
//!   representation A, bytecode with a qstr table); names of functions that are not in
//!   their module's globals (closures, methods) fall back to the code address for viper and
//!   asm code. Names are cached by code address: a new function whose code lands where a
//!   collected one was is reported under the old name.
//! - Python frames enter at the interpreter (or the machine code) and leave with it: the
//!   argument marshalling of `fun_bc_call` before it is the caller's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::rc::Rc;

use crate::core::cpu::{CpuRef, Reg};
use crate::core::Observer;
use crate::loader::{Image, SymbolKind};
use crate::session::{Outcome, Session};
use crate::vcd::ClockMap;

/// Options of `pybsim profile` beyond those of `run`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProfileOpts {
    /// Write folded stacks (flamegraph.pl, speedscope, inferno).
    #[arg(long)]
    pub folded: Option<PathBuf>,
    /// Write a Chrome trace-event JSON in virtual time (Perfetto, chrome://tracing).
    #[arg(long)]
    pub trace_json: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Firmware function calls shorter than this many cycles are left out of the trace
    /// JSON (Python functions, exceptions and collections are always in).
    #[arg(long, default_value_t = 1000)]
    pub trace_min_cycles: u64,
    /// Rows of the function tables on stderr.
    #[arg(long, default_value_t = 25)]
    pub top: usize,
}

const NONE: u32 = u32::MAX;
/// Pseudo-functions of the shadow stack (frame `func` values).
const FN_ROOT: u32 = u32::MAX - 1;
const FN_EXC: u32 = u32::MAX - 2;
const FN_RAM: u32 = u32::MAX - 3;
const FN_UNKNOWN: u32 = u32::MAX - 4;

const MAX_DEPTH: usize = 4096;
const MAX_EVENTS: usize = 4_000_000;

/// What a label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelKind {
    /// A firmware function (ELF symbol).
    C,
    /// An exception handler's frame.
    Exception,
    /// A Python function.
    Py(PyKind),
    /// Pseudo frames: root, unknown code, unnamed RAM code.
    Other,
}

/// How a Python function was compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PyKind {
    Bytecode,
    Native,
    Viper,
    AsmThumb,
}

impl PyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PyKind::Bytecode => "bytecode",
            PyKind::Native => "native",
            PyKind::Viper => "viper",
            PyKind::AsmThumb => "asm_thumb",
        }
    }
}

/// A name frames are charged to.
#[derive(Debug, Clone)]
pub struct Label {
    pub kind: LabelKind,
    /// Function name (for Python: the simple name).
    pub name: String,
    /// Python module (`__main__`), empty for firmware functions.
    pub module: String,
}

impl Label {
    /// The name in stacks: `mp_execute_bytecode`, `py:__main__.f`, `py:__main__.g[viper]`.
    pub fn display(&self) -> String {
        match self.kind {
            LabelKind::Py(PyKind::Bytecode) => format!("py:{}.{}", self.module, self.name),
            LabelKind::Py(k) => format!("py:{}.{}[{}]", self.module, self.name, k.as_str()),
            _ => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    parent: u32,
    label: u32,
    /// Nearest Python label on the path (this node's included), or NONE.
    py: u32,
    cycles: u64,
    calls: u64,
}

#[derive(Debug, Clone)]
struct Frame {
    func: u32,
    node: u32,
    start: u64,
    /// Machine code address expected next and the Python label it starts.
    pending: Option<(u32, u32)>,
    /// Module context of a bytecode frame (for the globals of asm functions).
    ctx: u32,
    /// Index of the collection this frame is.
    gc: Option<usize>,
    /// Always in the trace JSON.
    keep: bool,
    /// Exception number of an exception frame.
    exc: u32,
}

/// One garbage collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcEvent {
    /// Virtual cycle at its start and end.
    pub start: u64,
    pub end: u64,
    /// `"gc.collect()"`, `"allocation"`, or `"from <caller>"`.
    pub trigger: String,
    /// Firmware function that called `gc_collect`.
    pub caller: String,
    /// Innermost Python function at the time (`module.name`), empty if none.
    pub python: String,
    /// Heap in use (bytes of allocated blocks) before and after; None if unknown.
    pub heap_before: Option<u64>,
    pub heap_after: Option<u64>,
}

/// Function ids the profiler watches.
#[derive(Debug, Clone, Copy)]
struct Special {
    exec_bc: u32,
    native_call: u32,
    viper_call: u32,
    asm_call: u32,
    gc_collect: u32,
    gc_alloc: u32,
    py_gc_collect: u32,
    gc_init: u32,
}

/// The profiler state: the observer shares it with [`profile`].
pub struct Profiler {
    labels: Vec<Label>,
    /// Per halfword of [text_lo, text_hi): function index << 1 | is-entry, or NONE.
    map: Vec<u32>,
    text_lo: u32,
    sp: Special,
    nodes: Vec<Node>,
    children: HashMap<(u32, u32), u32>,
    stack: Vec<Frame>,
    /// Stack indices of exception frames.
    exc_frames: Vec<usize>,
    pending_exc_pop: bool,
    last_now: u64,
    last_cost: u64,
    exc_labels: HashMap<u32, u32>,
    py_labels: HashMap<(PyKind, u32, u32), u32>,
    label_ids: HashMap<(LabelKind, String, String), u32>,
    unknown_label: u32,
    ram_label: u32,
    // Python memory layout helpers.
    qstr_static_pool: u32,
    state_ctx: (u32, u32),
    qstr_hdr: u32,
    name_qstr: Option<u32>,
    // GC.
    heap_atb: Option<(u32, u32)>,
    pub gcs: Vec<GcEvent>,
    // Trace JSON: (node, start, end, depth).
    events: Vec<(u32, u64, u64, u32)>,
    record_events: bool,
    trace_min: u64,
    events_dropped: u64,
    pub blocks: u64,
}

struct Hook(Rc<RefCell<Profiler>>);

impl Observer for Hook {
    fn wants_blocks(&self) -> bool {
        true
    }

    fn block(&mut self, cpu: &CpuRef, addr: u32, cycles: u64, now: u64) {
        self.0.borrow_mut().block(cpu, addr, cycles, now);
    }
    fn exception(&mut self, cpu: &CpuRef, exc: u32, entered: bool, now: u64) {
        self.0.borrow_mut().exception(cpu, exc, entered, now);
    }
}

fn exc_name(exc: u32) -> String {
    match exc {
        2 => "[NMI]".into(),
        3 => "[HardFault]".into(),
        4 => "[MemManage]".into(),
        5 => "[BusFault]".into(),
        6 => "[UsageFault]".into(),
        11 => "[SVCall]".into(),
        12 => "[DebugMon]".into(),
        14 => "[PendSV]".into(),
        15 => "[SysTick]".into(),
        n if n >= 16 => format!("[IRQ {}]", n - 16),
        n => format!("[exception {n}]"),
    }
}

impl Profiler {
    /// A profiler for firmware `image`; `now` is the machine's time when it starts
    /// watching.
    pub fn new(image: &Image, now: u64, record_events: bool, trace_min: u64) -> Profiler {
        let mut labels = Vec::new();
        let mut entries = Vec::new();
        let mut funcs: Vec<(u32, u32, usize)> = Vec::new();
        let norm = |a: u32| if a < 0x10_0000 { a + 0x0800_0000 } else { a };
        for s in image.symbols.iter() {
            if s.kind != SymbolKind::Function {
                continue;
            }
            let a = norm(s.addr);
            if !(0x0800_0000..0x0810_0000).contains(&a) {
                continue;
            }
            funcs.push((a, s.size.max(2), labels.len()));
            entries.push(a);
            labels.push(Label {
                kind: LabelKind::C,
                name: s.name.clone(),
                module: String::new(),
            });
        }
        let lo = funcs.iter().map(|f| f.0).min().unwrap_or(0x0800_0000);
        let hi = funcs.iter().map(|f| f.0 + f.1).max().unwrap_or(0x0800_0000);
        let mut map = vec![NONE; ((hi - lo) / 2) as usize];
        // Bigger symbols first so that nested (smaller) ones win.
        funcs.sort_by_key(|f| (std::cmp::Reverse(f.1), f.0, f.2));
        for &(a, size, i) in &funcs {
            let from = ((a - lo) / 2) as usize;
            let to = (((a + size - lo) / 2) as usize).min(map.len());
            for slot in &mut map[from..to] {
                *slot = (i as u32) << 1;
            }
        }
        // Entries last, so that an entry is marked even inside a bigger symbol.
        for &(a, _, i) in &funcs {
            map[((a - lo) / 2) as usize] = (i as u32) << 1 | 1;
        }
        let id = |n: &str| {
            image
                .symbols
                .by_name(n)
                .filter(|s| s.kind == SymbolKind::Function)
                .and_then(|s| entries.iter().position(|&e| e == norm(s.addr)))
                .map(|i| i as u32)
                .unwrap_or(NONE)
        };
        let sp = Special {
            exec_bc: id("mp_execute_bytecode"),
            native_call: id("fun_native_call"),
            viper_call: id("fun_viper_call"),
            asm_call: id("fun_asm_call"),
            gc_collect: id("gc_collect"),
            gc_alloc: id("gc_alloc"),
            py_gc_collect: id("py_gc_collect"),
            gc_init: id("gc_init"),
        };
        let sym_addr = |n: &str| image.symbols.by_name(n).map(|s| (s.addr, s.size));
        let pool = sym_addr("mp_qstr_frozen_const_pool")
            .or_else(|| sym_addr("mp_qstr_const_pool"))
            .map(|p| p.0)
            .unwrap_or(0);
        // Size of the qstr_pool_t header (24 bytes with a hash array, 20 without): the
        // const pool's size tells.
        let qstr_hdr = match sym_addr("mp_qstr_const_pool") {
            Some((a, size)) => {
                let len = image.read_u32(a + 12).unwrap_or(0);
                if size.wrapping_sub(4 * len) == 20 {
                    20
                } else {
                    24
                }
            }
            None => 24,
        };
        let mut p = Profiler {
            labels,
            map,
            text_lo: lo,
            sp,
            nodes: Vec::new(),
            children: HashMap::new(),
            stack: Vec::new(),
            exc_frames: Vec::new(),
            pending_exc_pop: false,
            last_now: now,
            last_cost: 0,
            exc_labels: HashMap::new(),
            py_labels: HashMap::new(),
            label_ids: HashMap::new(),
            unknown_label: 0,
            ram_label: 0,
            qstr_static_pool: pool,
            state_ctx: sym_addr("mp_state_ctx").unwrap_or((0, 0)),
            qstr_hdr,
            name_qstr: None,
            heap_atb: None,
            gcs: Vec::new(),
            events: Vec::new(),
            record_events,
            trace_min,
            events_dropped: 0,
            blocks: 0,
        };
        let root = p.label(LabelKind::Other, "[root]", "");
        p.unknown_label = p.label(LabelKind::Other, "[unknown]", "");
        p.ram_label = p.label(LabelKind::Other, "[ram code]", "");
        p.nodes.push(Node {
            parent: NONE,
            label: root,
            py: NONE,
            cycles: 0,
            calls: 0,
        });
        p.stack.push(Frame {
            func: FN_ROOT,
            node: 0,
            start: now,
            pending: None,
            ctx: 0,
            gc: None,
            keep: false,
            exc: 0,
        });
        p
    }

    fn label(&mut self, kind: LabelKind, name: &str, module: &str) -> u32 {
        let key = (kind, name.to_string(), module.to_string());
        if let Some(&l) = self.label_ids.get(&key) {
            return l;
        }
        let l = self.labels.len() as u32;
        self.labels.push(Label {
            kind,
            name: name.to_string(),
            module: module.to_string(),
        });
        self.label_ids.insert(key, l);
        l
    }

    fn child(&mut self, parent: u32, label: u32) -> u32 {
        if let Some(&n) = self.children.get(&(parent, label)) {
            return n;
        }
        let n = self.nodes.len() as u32;
        let py = if matches!(self.labels[label as usize].kind, LabelKind::Py(_)) {
            label
        } else {
            self.nodes[parent as usize].py
        };
        self.nodes.push(Node {
            parent,
            label,
            py,
            cycles: 0,
            calls: 0,
        });
        self.children.insert((parent, label), n);
        n
    }

    /// (function, is entry) of a code address.
    #[inline]
    fn func_of(&self, addr: u32) -> (u32, bool) {
        let a = if addr < 0x10_0000 {
            addr + 0x0800_0000
        } else {
            addr
        };
        let off = a.wrapping_sub(self.text_lo) / 2;
        if let Some(&v) = self.map.get(off as usize) {
            if v != NONE {
                return (v >> 1, v & 1 != 0);
            }
        }
        if (0x2000_0000..0x2002_0000).contains(&a) || (0x1000_0000..0x1001_0000).contains(&a) {
            (FN_RAM, false)
        } else {
            (FN_UNKNOWN, false)
        }
    }

    #[inline]
    fn charge(&mut self, now: u64) {
        if now > self.last_now {
            let top = self.stack.last().expect("root").node;
            self.nodes[top as usize].cycles += now - self.last_now;
            self.last_now = now;
        }
    }

    fn floor(&self) -> usize {
        self.exc_frames.last().map(|&i| i + 1).unwrap_or(1)
    }

    fn push(&mut self, cpu: &CpuRef, func: u32, label: u32, now: u64) {
        if self.stack.len() >= MAX_DEPTH {
            self.pop(cpu, now);
        }
        let parent = self.stack.last().expect("root").node;
        let mut node = self.child(parent, label);
        self.nodes[node as usize].calls += 1;
        let mut frame = Frame {
            func,
            node,
            start: now,
            pending: None,
            ctx: 0,
            gc: None,
            keep: func == FN_EXC || func == FN_RAM,
            exc: 0,
        };
        if func == self.sp.exec_bc {
            let cs = cpu.reg(Reg::R0);
            if let Some((l, ctx)) = self.bytecode_label(cpu, cs) {
                node = self.child(node, l);
                self.nodes[node as usize].calls += 1;
                frame.node = node;
                frame.ctx = ctx;
                frame.keep = true;
            }
        } else if func == self.sp.native_call
            || func == self.sp.viper_call
            || func == self.sp.asm_call
        {
            let fun = cpu.reg(Reg::R0);
            frame.pending = self.native_label(cpu, func, fun);
        } else if func == self.sp.gc_collect {
            frame.gc = Some(self.gc_start(cpu, now));
            frame.keep = true;
        } else if func == self.sp.gc_init {
            let start = cpu.reg(Reg::R0);
            let end = cpu.reg(Reg::R1) & !15;
            if end > start {
                // MicroPython 1.25 gc_setup_area with finalisers: T = A + F + P.
                let total = end - start;
                let atb = (total - 1) * 8 / (8 + 8 * 4 / 8 + 8 * 4 * 16);
                self.heap_atb = Some((start, atb));
            }
        }
        self.stack.push(frame);
        if func == FN_EXC {
            self.exc_frames.push(self.stack.len() - 1);
        }
    }

    fn pop(&mut self, cpu: &CpuRef, now: u64) {
        if self.stack.len() <= 1 {
            return;
        }
        let f = self.stack.pop().expect("frame");
        if f.func == FN_EXC {
            self.exc_frames.pop();
        }
        if let Some(i) = f.gc {
            self.gcs[i].end = now;
            self.gcs[i].heap_after = self.heap_used(cpu);
        }
        if self.record_events && (f.keep || now - f.start >= self.trace_min) {
            if self.events.len() < MAX_EVENTS {
                self.events
                    .push((f.node, f.start, now, self.stack.len() as u32));
            } else {
                self.events_dropped += 1;
            }
        }
    }

    fn pop_to(&mut self, cpu: &CpuRef, len: usize, now: u64) {
        while self.stack.len() > len.max(1) {
            self.pop(cpu, now);
        }
    }

    fn block(&mut self, cpu: &CpuRef, addr: u32, cycles: u64, now: u64) {
        self.blocks += 1;
        if self.pending_exc_pop {
            self.charge(now);
            self.pending_exc_pop = false;
            if let Some(&i) = self.exc_frames.last() {
                self.pop_to(cpu, i, now);
            }
        } else {
            self.charge(now);
        }
        self.last_cost = cycles;
        let (f, entry) = self.func_of(addr);
        let top = self.stack.last().expect("root");
        if f == top.func && !entry {
            return;
        }
        self.slow(cpu, addr & !1, f, entry, now);
    }

    fn find(&self, func: u32) -> Option<usize> {
        let floor = self.floor();
        (floor..self.stack.len())
            .rev()
            .find(|&i| self.stack[i].func == func)
    }

    fn slow(&mut self, cpu: &CpuRef, addr: u32, f: u32, entry: bool, now: u64) {
        let top = self.stack.last().expect("root");
        let top_func = top.func;
        if f == FN_RAM {
            if let Some((code, label)) = top.pending {
                if code == addr {
                    self.push(cpu, FN_RAM, label, now);
                    return;
                }
            }
            match self.find(FN_RAM) {
                Some(i) => self.pop_to(cpu, i + 1, now),
                None => {
                    let l = self.ram_label;
                    self.push(cpu, FN_RAM, l, now);
                }
            }
            return;
        }
        let label = if f == FN_UNKNOWN {
            self.unknown_label
        } else {
            f
        };
        if entry {
            let lr = cpu.reg(Reg::LR);
            let ipsr = if lr >= 0xFFFF_FFE0 {
                cpu.reg(Reg::XPSR) & 0x1FF
            } else {
                0
            };
            if ipsr != 0 {
                // LR holds EXC_RETURN: a handler's first block, or a tail call from a
                // handler (LR passed through), or a tail-chained exception's handler.
                if top_func != FN_EXC {
                    let inner = self.exc_frames.last().map(|&i| (i, self.stack[i].exc));
                    match inner {
                        Some((i, n)) if n == ipsr => self.pop_to(cpu, i + 1, now),
                        _ => {
                            let l = self.exc_label(ipsr);
                            self.push(cpu, FN_EXC, l, now);
                            if let Some(t) = self.stack.last_mut() {
                                t.exc = ipsr;
                            }
                        }
                    }
                }
                self.push(cpu, f, label, now);
                return;
            }
            let (lf, _) = self.func_of(lr & !1);
            let mut gc = None;
            if lf != top_func {
                if let Some(i) = self.find(lf) {
                    // Tail call: the frames above the caller are done, but a collection
                    // goes on in the function it ends with (gc_collect -> gc_collect_end).
                    for fr in &mut self.stack[i + 1..] {
                        gc = gc.or(fr.gc.take());
                    }
                    self.pop_to(cpu, i + 1, now);
                }
            }
            self.push(cpu, f, label, now);
            if let Some(g) = gc {
                if let Some(t) = self.stack.last_mut() {
                    t.gc = Some(g);
                    t.keep = true;
                }
            }
            return;
        }
        if let Some(i) = self.find(f) {
            self.pop_to(cpu, i + 1, now);
            return;
        }
        // A branch into the middle of a function not on the stack: it replaces the top.
        if top_func != FN_EXC && top_func != FN_ROOT && self.stack.len() > self.floor() {
            self.pop(cpu, now);
        }
        self.push(cpu, f, label, now);
    }

    fn exc_label(&mut self, exc: u32) -> u32 {
        if let Some(&l) = self.exc_labels.get(&exc) {
            return l;
        }
        let l = self.label(LabelKind::Exception, &exc_name(exc), "");
        self.exc_labels.insert(exc, l);
        l
    }

    fn exception(&mut self, cpu: &CpuRef, exc: u32, entered: bool, now: u64) {
        if entered {
            if self.pending_exc_pop {
                self.charge(now);
                self.pending_exc_pop = false;
                if let Some(&i) = self.exc_frames.last() {
                    self.pop_to(cpu, i, now);
                }
            } else {
                // The last block's cycles are its function's; the entry's, the handler's.
                let split = self.last_now + self.last_cost.min(now - self.last_now.min(now));
                self.charge(split);
            }
            let l = self.exc_label(exc);
            let start = self.last_now;
            self.push(cpu, FN_EXC, l, start);
            if let Some(t) = self.stack.last_mut() {
                t.exc = exc;
            }
            self.charge(now);
            self.last_cost = 0;
        } else {
            self.charge(now);
            if let Some(&i) = self.exc_frames.last() {
                // Handler frames end now; the exception frame takes the exit cost.
                self.pop_to(cpu, i + 1, now);
                self.pending_exc_pop = true;
            }
        }
    }

    // ---- Python ----

    fn rd(cpu: &CpuRef, a: u32) -> Option<u32> {
        cpu.read_u32(a).ok()
    }

    fn cstr(cpu: &CpuRef, a: u32) -> Option<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 16];
        for k in 0..8 {
            let at = a + 16 * k;
            if cpu.read_mem(at, &mut buf).is_err() {
                // Near the end of a region: byte by byte.
                for i in 0..16 {
                    let mut b = [0u8];
                    cpu.read_mem(at + i, &mut b).ok()?;
                    if b[0] == 0 {
                        return Some(String::from_utf8_lossy(&out).into_owned());
                    }
                    out.push(b[0]);
                }
                continue;
            }
            for &b in &buf {
                if b == 0 {
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                out.push(b);
            }
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    /// Is `p` a qstr pool chain ending at the static pool?
    fn is_pool(&self, cpu: &CpuRef, mut p: u32) -> bool {
        for _ in 0..64 {
            if p == self.qstr_static_pool {
                return true;
            }
            if !(0x2000_0000..0x2002_0000).contains(&p) {
                return false;
            }
            match Self::rd(cpu, p) {
                Some(prev) => p = prev,
                None => return false,
            }
        }
        false
    }

    /// MP_STATE_VM(last_pool): the word of mp_state_ctx that is a qstr pool chain.
    fn last_pool(&self, cpu: &CpuRef) -> Option<u32> {
        let (base, size) = self.state_ctx;
        (0..size / 4)
            .filter_map(|i| Self::rd(cpu, base + 4 * i))
            .find(|&w| w == self.qstr_static_pool || (w & 3 == 0 && self.is_pool(cpu, w)))
    }

    fn qstr(&self, cpu: &CpuRef, q: u32) -> Option<String> {
        let mut pool = self.last_pool(cpu).unwrap_or(self.qstr_static_pool);
        for _ in 0..64 {
            let total_prev = Self::rd(cpu, pool + 4)? & 0x7FFF_FFFF;
            if q >= total_prev {
                let idx = q - total_prev;
                let len = Self::rd(cpu, pool + 12)?;
                if idx >= len {
                    return None;
                }
                let hdr = self.qstr_hdr;
                let s = Self::rd(cpu, pool + hdr + 4 * idx)?;
                return Self::cstr(cpu, s);
            }
            pool = Self::rd(cpu, pool)?;
        }
        None
    }

    /// The qstr number of `__name__`, found once in the static pools.
    fn name_qstr(&mut self, cpu: &CpuRef) -> Option<u32> {
        if self.name_qstr.is_none() {
            let mut pool = self.qstr_static_pool;
            'pools: for _ in 0..8 {
                let total_prev = Self::rd(cpu, pool + 4)? & 0x7FFF_FFFF;
                let len = Self::rd(cpu, pool + 12)?;
                let hdr = self.qstr_hdr;
                for i in 0..len.min(4096) {
                    let s = Self::rd(cpu, pool + hdr + 4 * i)?;
                    let mut b = [0u8; 9];
                    if cpu.read_mem(s, &mut b).is_ok() && &b == b"__name__\0" {
                        self.name_qstr = Some(total_prev + i);
                        break 'pools;
                    }
                }
                if total_prev == 0 {
                    break;
                }
                pool = Self::rd(cpu, pool)?;
            }
            if self.name_qstr.is_none() {
                self.name_qstr = Some(NONE);
            }
        }
        self.name_qstr.filter(|&q| q != NONE)
    }

    /// (key, value) pairs of a dict object.
    fn dict_items(cpu: &CpuRef, dict: u32) -> Vec<(u32, u32)> {
        let alloc = Self::rd(cpu, dict + 8).unwrap_or(0).min(1024);
        let table = Self::rd(cpu, dict + 12).unwrap_or(0);
        let mut buf = vec![0u8; 8 * alloc as usize];
        if cpu.read_mem(table, &mut buf).is_err() {
            return Vec::new();
        }
        buf.chunks_exact(8)
            .map(|c| {
                (
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                    u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect()
    }

    fn qstr_obj(&self, cpu: &CpuRef, o: u32) -> Option<String> {
        if o & 7 == 2 {
            self.qstr(cpu, o >> 3)
        } else {
            None
        }
    }

    /// `__name__` of a module context's globals.
    fn module_name(&mut self, cpu: &CpuRef, ctx: u32) -> String {
        let globals = Self::rd(cpu, ctx + 4).unwrap_or(0);
        let Some(nq) = self.name_qstr(cpu) else {
            return "?".into();
        };
        let key = nq << 3 | 2;
        Self::dict_items(cpu, globals)
            .into_iter()
            .find(|kv| kv.0 == key)
            .and_then(|kv| self.qstr_obj(cpu, kv.1))
            .unwrap_or_else(|| "?".into())
    }

    /// The simple name in a bytecode prelude (1.25: signature, size, then the name's index
    /// in the module's qstr table).
    fn prelude_name(&self, cpu: &CpuRef, prelude: u32, ctx: u32) -> Option<String> {
        let mut b = [0u8; 24];
        cpu.read_mem(prelude, &mut b).ok()?;
        let mut i = 0;
        let mut z = b[i];
        i += 1;
        while z & 0x80 != 0 && i < b.len() {
            z = b[i];
            i += 1;
        }
        loop {
            let z = *b.get(i)?;
            i += 1;
            if z & 0x80 == 0 {
                break;
            }
        }
        let mut idx = 0u32;
        loop {
            let z = *b.get(i)?;
            i += 1;
            idx = idx << 7 | (z & 0x7F) as u32;
            if z & 0x80 == 0 {
                break;
            }
        }
        let table = Self::rd(cpu, ctx + 8)?;
        let mut q = [0u8; 2];
        cpu.read_mem(table + 2 * idx, &mut q).ok()?;
        self.qstr(cpu, u16::from_le_bytes(q) as u32)
    }

    fn py_label(&mut self, kind: PyKind, name: &str, module: &str) -> u32 {
        self.label(LabelKind::Py(kind), name, module)
    }

    /// The Python label of the code state `cs` and the function's module context.
    fn bytecode_label(&mut self, cpu: &CpuRef, cs: u32) -> Option<(u32, u32)> {
        let fun = Self::rd(cpu, cs)?;
        let ctx = Self::rd(cpu, fun + 4)?;
        let bc = Self::rd(cpu, fun + 12)?;
        let key = (PyKind::Bytecode, bc, ctx);
        if let Some(&l) = self.py_labels.get(&key) {
            return Some((l, ctx));
        }
        let name = self
            .prelude_name(cpu, bc, ctx)
            .unwrap_or_else(|| format!("<code {bc:#x}>"));
        let module = self.module_name(cpu, ctx);
        let l = self.py_label(PyKind::Bytecode, &name, &module);
        self.py_labels.insert(key, l);
        Some((l, ctx))
    }

    /// The name under which `fun` is in the globals of `ctx`.
    fn global_name(&self, cpu: &CpuRef, ctx: u32, fun: u32) -> Option<String> {
        let globals = Self::rd(cpu, ctx + 4)?;
        Self::dict_items(cpu, globals)
            .into_iter()
            .find(|kv| kv.1 == fun)
            .and_then(|kv| self.qstr_obj(cpu, kv.0))
    }

    /// The machine code address and Python label of a native, viper or asm function
    /// object about to be called by `via`.
    fn native_label(&mut self, cpu: &CpuRef, via: u32, fun: u32) -> Option<(u32, u32)> {
        let (kind, code, ctx) = if via == self.sp.asm_call {
            let code = Self::rd(cpu, fun + 8)? & !1;
            let ctx = self
                .stack
                .iter()
                .rev()
                .find(|f| f.ctx != 0)
                .map(|f| f.ctx)
                .unwrap_or(0);
            (PyKind::AsmThumb, code, ctx)
        } else if via == self.sp.viper_call {
            let code = Self::rd(cpu, fun + 12)? & !1;
            (PyKind::Viper, code, Self::rd(cpu, fun + 4)?)
        } else {
            let bc = Self::rd(cpu, fun + 12)?;
            (PyKind::Native, (bc + 4) & !1, Self::rd(cpu, fun + 4)?)
        };
        let key = (kind, code, ctx);
        if let Some(&l) = self.py_labels.get(&key) {
            return Some((code, l));
        }
        let name = match kind {
            PyKind::Native => {
                let bc = Self::rd(cpu, fun + 12)?;
                let children = Self::rd(cpu, fun + 8)?;
                let idx = Self::rd(cpu, bc)?;
                let prelude = if idx == 0 {
                    children
                } else {
                    Self::rd(cpu, children + 4 * idx)?
                };
                self.prelude_name(cpu, prelude, ctx)
            }
            _ => None,
        }
        .or_else(|| self.global_name(cpu, ctx, fun))
        .unwrap_or_else(|| format!("<code {code:#x}>"));
        let module = if ctx != 0 {
            self.module_name(cpu, ctx)
        } else {
            "?".into()
        };
        let l = self.py_label(kind, &name, &module);
        self.py_labels.insert(key, l);
        Some((code, l))
    }

    // ---- GC ----

    fn heap_used(&self, cpu: &CpuRef) -> Option<u64> {
        let (start, len) = self.heap_atb?;
        let mut buf = vec![0u8; len as usize];
        cpu.read_mem(start, &mut buf).ok()?;
        let blocks: u32 = buf
            .iter()
            .map(|&b| (0..4).filter(|k| (b >> (2 * k)) & 3 != 0).count() as u32)
            .sum();
        Some(blocks as u64 * 16)
    }

    fn gc_start(&mut self, cpu: &CpuRef, now: u64) -> usize {
        let parent = self.stack.last().expect("root");
        let caller = self.labels[self.nodes[parent.node as usize].label as usize].display();
        let trigger = if parent.func == self.sp.py_gc_collect {
            "gc.collect()".to_string()
        } else if parent.func == self.sp.gc_alloc {
            "allocation".to_string()
        } else {
            format!("from {caller}")
        };
        let py = self.nodes[parent.node as usize].py;
        let python = if py == NONE {
            String::new()
        } else {
            let l = &self.labels[py as usize];
            format!("{}.{}", l.module, l.name)
        };
        self.gcs.push(GcEvent {
            start: now,
            end: now,
            trigger,
            caller,
            python,
            heap_before: self.heap_used(cpu),
            heap_after: None,
        });
        self.gcs.len() - 1
    }

    /// Closes the frames still open at `now` (the end of the run) and builds the report.
    pub fn finish(&mut self, now: u64, clocks: &[(u64, u32)]) -> Report {
        self.charge(now);
        // Close the open frames without a CPU: record their events directly.
        while self.stack.len() > 1 {
            let f = self.stack.pop().expect("frame");
            if let Some(i) = f.gc {
                self.gcs[i].end = now;
            }
            if self.record_events
                && (f.keep || now - f.start >= self.trace_min)
                && self.events.len() < MAX_EVENTS
            {
                self.events
                    .push((f.node, f.start, now, self.stack.len() as u32));
            }
        }
        Report::build(self, now, clocks)
    }
}

/// One row of a function table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub label: u32,
    pub name: String,
    pub kind: LabelKind,
    pub module: String,
    /// Cycles in the function itself (for Python: in it and the firmware it calls,
    /// Python functions it calls excluded).
    pub exclusive: u64,
    /// Cycles in it and everything it calls (recursion counted once).
    pub inclusive: u64,
    pub calls: u64,
    /// Python callers: (caller display name, calls, inclusive cycles of those calls).
    pub callers: Vec<(String, u64, u64)>,
}

/// The result of a profile.
#[derive(Debug, Clone)]
pub struct Report {
    pub total_cycles: u64,
    pub start_cycle: u64,
    pub blocks: u64,
    pub functions: Vec<Row>,
    pub python: Vec<Row>,
    pub gcs: Vec<GcEvent>,
    /// Folded stacks: (path, cycles), sorted by path.
    pub folded: Vec<(String, u64)>,
    clocks: ClockMap,
    /// Trace events: (name, category, start, end, depth), by start.
    events: Vec<(String, &'static str, u64, u64, u32)>,
    pub events_dropped: u64,
}

impl Report {
    fn build(p: &Profiler, now: u64, clocks: &[(u64, u32)]) -> Report {
        let n = p.nodes.len();
        let mut subtotal: Vec<u64> = p.nodes.iter().map(|x| x.cycles).collect();
        for i in (1..n).rev() {
            let parent = p.nodes[i].parent as usize;
            subtotal[parent] += subtotal[i];
        }
        let nl = p.labels.len();
        let mut excl = vec![0u64; nl];
        let mut incl = vec![0u64; nl];
        let mut calls = vec![0u64; nl];
        let mut py_excl = vec![0u64; nl];
        let mut callers: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
        for (i, node) in p.nodes.iter().enumerate() {
            let l = node.label as usize;
            excl[l] += node.cycles;
            calls[l] += node.calls;
            if node.py != NONE {
                py_excl[node.py as usize] += node.cycles;
            }
            // Inclusive: only the outermost node of a label on its path.
            let mut a = node.parent;
            let mut outer = true;
            while a != NONE {
                if p.nodes[a as usize].label == node.label {
                    outer = false;
                    break;
                }
                a = p.nodes[a as usize].parent;
            }
            if outer {
                incl[l] += subtotal[i];
            }
            if matches!(p.labels[l].kind, LabelKind::Py(_)) {
                let caller = if node.parent == NONE {
                    NONE
                } else {
                    p.nodes[node.parent as usize].py
                };
                let e = callers.entry((node.label, caller)).or_default();
                e.0 += node.calls;
                e.1 += subtotal[i];
            }
        }
        let mut functions = Vec::new();
        let mut python = Vec::new();
        for (l, lab) in p.labels.iter().enumerate() {
            if calls[l] == 0 && excl[l] == 0 {
                continue;
            }
            let is_py = matches!(lab.kind, LabelKind::Py(_));
            let mut cl: Vec<(String, u64, u64)> = callers
                .iter()
                .filter(|(k, _)| k.0 == l as u32)
                .map(|(k, v)| {
                    let name = if k.1 == NONE {
                        "[firmware]".to_string()
                    } else {
                        p.labels[k.1 as usize].display()
                    };
                    (name, v.0, v.1)
                })
                .collect();
            cl.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
            let row = Row {
                label: l as u32,
                name: lab.name.clone(),
                kind: lab.kind,
                module: lab.module.clone(),
                exclusive: if is_py { py_excl[l] } else { excl[l] },
                inclusive: incl[l],
                calls: calls[l],
                callers: cl,
            };
            if is_py {
                python.push(row);
            } else {
                functions.push(row);
            }
        }
        let order = |a: &Row, b: &Row| {
            b.exclusive
                .cmp(&a.exclusive)
                .then(b.inclusive.cmp(&a.inclusive))
                .then(a.name.cmp(&b.name))
                .then(a.label.cmp(&b.label))
        };
        functions.sort_by(order);
        python.sort_by(|a, b| {
            b.inclusive
                .cmp(&a.inclusive)
                .then(a.name.cmp(&b.name))
                .then(a.label.cmp(&b.label))
        });
        // Folded stacks.
        let mut paths: Vec<String> = vec![String::new(); n];
        let mut folded = Vec::new();
        for i in 1..n {
            let node = &p.nodes[i];
            let name = p.labels[node.label as usize]
                .display()
                .replace([';', ' '], "_");
            paths[i] = if node.parent == 0 || node.parent == NONE {
                name
            } else {
                format!("{};{}", paths[node.parent as usize], name)
            };
            if node.cycles > 0 {
                folded.push((paths[i].clone(), node.cycles));
            }
        }
        if p.nodes[0].cycles > 0 {
            folded.push(("[root]".into(), p.nodes[0].cycles));
        }
        folded.sort();
        let mut events: Vec<(String, &'static str, u64, u64, u32)> = p
            .events
            .iter()
            .map(|&(node, s, e, d)| {
                let lab = &p.labels[p.nodes[node as usize].label as usize];
                let cat = match lab.kind {
                    LabelKind::Py(_) => "python",
                    LabelKind::Exception => "exception",
                    _ => "firmware",
                };
                (lab.display(), cat, s, e, d)
            })
            .collect();
        for g in &p.gcs {
            events.push((format!("GC ({})", g.trigger), "gc", g.start, g.end, 0));
        }
        events.sort_by(|a, b| a.2.cmp(&b.2).then(a.4.cmp(&b.4)).then(b.3.cmp(&a.3)));
        Report {
            total_cycles: subtotal[0],
            start_cycle: now - subtotal[0],
            blocks: p.blocks,
            functions,
            python,
            gcs: p.gcs.clone(),
            folded,
            clocks: ClockMap::new(clocks),
            events,
            events_dropped: p.events_dropped,
        }
    }

    /// Virtual microseconds at `cycle`.
    pub fn us(&self, cycle: u64) -> f64 {
        self.clocks.ns(cycle) as f64 / 1000.0
    }

    /// The Python row named `module.name`.
    pub fn python_fn(&self, qualname: &str) -> Option<&Row> {
        self.python
            .iter()
            .find(|r| format!("{}.{}", r.module, r.name) == qualname)
    }

    /// The firmware row named `name`.
    pub fn function(&self, name: &str) -> Option<&Row> {
        self.functions.iter().find(|r| r.name == name)
    }

    fn display(r: &Row) -> String {
        match r.kind {
            LabelKind::Py(_) => format!("{}.{}", r.module, r.name),
            _ => r.name.clone(),
        }
    }

    /// The summary for people.
    pub fn summary(&self, top: usize) -> String {
        let mut s = String::new();
        let total = self.total_cycles.max(1);
        let pct = |c: u64| 100.0 * c as f64 / total as f64;
        let _ = writeln!(
            s,
            "profile: {} cycles ({:.1} ms virtual), {} blocks",
            self.total_cycles,
            (self.us(self.start_cycle + self.total_cycles) - self.us(self.start_cycle)) / 1000.0,
            self.blocks
        );
        let _ = writeln!(
            s,
            "\nfirmware functions by exclusive cycles (top {top} of {}):",
            self.functions.len()
        );
        let _ = writeln!(
            s,
            "{:>12} {:>6} {:>12} {:>6} {:>9}  function",
            "exclusive", "%", "inclusive", "%", "calls"
        );
        for r in self.functions.iter().take(top) {
            let _ = writeln!(
                s,
                "{:>12} {:>6.2} {:>12} {:>6.2} {:>9}  {}",
                r.exclusive,
                pct(r.exclusive),
                r.inclusive,
                pct(r.inclusive),
                r.calls,
                r.name
            );
        }
        if !self.python.is_empty() {
            let _ = writeln!(
                s,
                "\nPython functions by inclusive cycles (exclusive: with the firmware they call):"
            );
            let _ = writeln!(
                s,
                "{:>12} {:>6} {:>12} {:>6} {:>9}  {:<10} function  <- callers",
                "inclusive", "%", "exclusive", "%", "calls", "kind"
            );
            for r in self.python.iter().take(top) {
                let kind = match r.kind {
                    LabelKind::Py(k) => k.as_str(),
                    _ => "",
                };
                let callers: Vec<String> = r
                    .callers
                    .iter()
                    .take(3)
                    .map(|c| format!("{} ({}x)", c.0.trim_start_matches("py:"), c.1))
                    .collect();
                let _ = writeln!(
                    s,
                    "{:>12} {:>6.2} {:>12} {:>6.2} {:>9}  {:<10} {}  <- {}",
                    r.inclusive,
                    pct(r.inclusive),
                    r.exclusive,
                    pct(r.exclusive),
                    r.calls,
                    kind,
                    Self::display(r),
                    callers.join(", ")
                );
            }
        }
        let pauses: Vec<u64> = self.gcs.iter().map(|g| g.end - g.start).collect();
        let sum: u64 = pauses.iter().sum();
        let max = pauses.iter().copied().max().unwrap_or(0);
        let _ = writeln!(
            s,
            "\ngarbage collections: {}, total {} cycles ({:.1} us), max {} cycles ({:.1} us)",
            self.gcs.len(),
            sum,
            self.dur_us(0, sum),
            max,
            self.dur_us(0, max)
        );
        for (i, g) in self.gcs.iter().enumerate() {
            let heap = |h: Option<u64>| h.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
            let _ = writeln!(
                s,
                "  #{:<3} at {:>12.1} us  {:>9} cycles {:>9.1} us  {:<14} in {:<24} heap {} -> {}",
                i + 1,
                self.us(g.start),
                g.end - g.start,
                self.us(g.end) - self.us(g.start),
                g.trigger,
                if g.python.is_empty() { "-" } else { &g.python },
                heap(g.heap_before),
                heap(g.heap_after)
            );
        }
        s
    }

    fn dur_us(&self, _from: u64, cycles: u64) -> f64 {
        // Collections run after the clock setup: at the final clock.
        let hz = self.clocks.hz(self.start_cycle + self.total_cycles);
        cycles as f64 * 1e6 / hz as f64
    }

    /// Folded stacks, one `a;b;c cycles` line per stack.
    pub fn folded_text(&self) -> String {
        let mut s = String::new();
        for (p, c) in &self.folded {
            let _ = writeln!(s, "{p} {c}");
        }
        s
    }

    /// Chrome trace-event JSON (times in virtual µs). Three named threads of one
    /// process: "CPU" (firmware and Python calls outside exception handlers),
    /// "interrupts" (exception handlers and everything they call) and "GC" (one slice per
    /// garbage collection), so that Perfetto and chrome://tracing show them apart.
    pub fn trace_json(&self) -> String {
        let mut events = vec![serde_json::json!({
            "name": "process_name", "ph": "M", "pid": 1, "tid": TID_CPU,
            "args": {"name": "pybsim"}
        })];
        for (tid, name) in [(TID_CPU, "CPU"), (TID_GC, "GC"), (TID_IRQ, "interrupts")] {
            events.push(serde_json::json!({
                "name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
                "args": {"name": name}
            }));
            events.push(serde_json::json!({
                "name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
                "args": {"sort_index": tid}
            }));
        }
        // Exception frames still open around the event at hand: their end cycles. The
        // events are frames of one shadow stack, by start: whatever starts inside an
        // exception frame ran in its handler.
        let mut handlers: Vec<u64> = Vec::new();
        for (name, cat, st, en, _d) in &self.events {
            let tid = if *cat == "gc" {
                TID_GC
            } else {
                while handlers.last().is_some_and(|&end| end <= *st) {
                    handlers.pop();
                }
                let inside = handlers.last().is_some_and(|&end| *en <= end);
                if *cat == "exception" {
                    handlers.push(*en);
                    TID_IRQ
                } else if inside {
                    TID_IRQ
                } else {
                    TID_CPU
                }
            };
            let ts = self.clocks.ns(*st);
            let dur = self.clocks.ns(*en) - ts;
            events.push(serde_json::json!({
                "name": name, "cat": cat, "ph": "X", "pid": 1, "tid": tid,
                "ts": ts as f64 / 1000.0, "dur": dur as f64 / 1000.0,
                "args": {"cycles": en - st}
            }));
        }
        let doc = serde_json::json!({"displayTimeUnit": "ns", "traceEvents": events});
        let mut s = serde_json::to_string(&doc).expect("JSON values always serialise");
        s.push('\n');
        s
    }

    /// The report as JSON: `{total_cycles, blocks, functions: [row], python: [row], gc:
    /// [collection]}`, rows `{name, module, kind, exclusive, inclusive, calls}` (Python
    /// rows with `callers: [{name, calls, cycles}]`).
    pub fn json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Caller<'a> {
            name: &'a str,
            calls: u64,
            cycles: u64,
        }
        #[derive(serde::Serialize)]
        struct JRow<'a> {
            name: &'a str,
            module: &'a str,
            kind: &'static str,
            exclusive: u64,
            inclusive: u64,
            calls: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            callers: Option<Vec<Caller<'a>>>,
        }
        #[derive(serde::Serialize)]
        struct JGc<'a> {
            start_cycle: u64,
            end_cycle: u64,
            cycles: u64,
            start_us: f64,
            us: f64,
            trigger: &'a str,
            caller: &'a str,
            python: &'a str,
            heap_before: Option<u64>,
            heap_after: Option<u64>,
        }
        #[derive(serde::Serialize)]
        struct JReport<'a> {
            total_cycles: u64,
            blocks: u64,
            functions: Vec<JRow<'a>>,
            python: Vec<JRow<'a>>,
            gc: Vec<JGc<'a>>,
        }
        fn row(r: &Row) -> JRow<'_> {
            JRow {
                name: &r.name,
                module: &r.module,
                kind: match r.kind {
                    LabelKind::C => "c",
                    LabelKind::Exception => "exception",
                    LabelKind::Py(k) => k.as_str(),
                    LabelKind::Other => "other",
                },
                exclusive: r.exclusive,
                inclusive: r.inclusive,
                calls: r.calls,
                callers: matches!(r.kind, LabelKind::Py(_)).then(|| {
                    r.callers
                        .iter()
                        .map(|c| Caller {
                            name: &c.0,
                            calls: c.1,
                            cycles: c.2,
                        })
                        .collect()
                }),
            }
        }
        // Microseconds to the nanosecond, as the summary shows them.
        let us = |ns: u64| ns as f64 / 1000.0;
        let report = JReport {
            total_cycles: self.total_cycles,
            blocks: self.blocks,
            functions: self.functions.iter().map(row).collect(),
            python: self.python.iter().map(row).collect(),
            gc: self
                .gcs
                .iter()
                .map(|g| JGc {
                    start_cycle: g.start,
                    end_cycle: g.end,
                    cycles: g.end - g.start,
                    start_us: us(self.clocks.ns(g.start)),
                    us: us(self.clocks.ns(g.end) - self.clocks.ns(g.start)),
                    trigger: &g.trigger,
                    caller: &g.caller,
                    python: &g.python,
                    heap_before: g.heap_before,
                    heap_after: g.heap_after,
                })
                .collect(),
        };
        let mut s = serde_json::to_string_pretty(&report).expect("the report serialises");
        s.push('\n');
        s
    }
}

/// Thread ids of the Chrome trace.
const TID_CPU: u32 = 1;
const TID_GC: u32 = 2;
const TID_IRQ: u32 = 3;

/// Runs `script` on `session` with the profiler watching; returns the outcome and the
/// report (nothing written anywhere).
pub fn profile_run(
    session: &mut Session,
    script: &[u8],
    opts: &ProfileOpts,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<(Outcome, Report)> {
    let now = session.machine.now();
    let prof = Rc::new(RefCell::new(Profiler::new(
        &session.image,
        now,
        opts.trace_json.is_some(),
        opts.trace_min_cycles,
    )));
    let hook = session
        .machine
        .attach_observer(Box::new(Hook(prof.clone())));
    let result = session.run_script(script, out);
    let end = session.machine.now();
    session.machine.detach_observer(hook);
    let clocks = session.machine.clock_history();
    let outcome = result?;
    let report = prof.borrow_mut().finish(end, &clocks);
    Ok((outcome, report))
}

/// Profiles `script` on `session`, writing its output to `out` and the report to stderr
/// and the files asked for.
pub fn profile(
    session: &mut Session,
    script: &[u8],
    opts: &ProfileOpts,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<Outcome> {
    let (outcome, report) = profile_run(session, script, opts, out)?;
    let write = |p: &PathBuf, text: String| {
        std::fs::write(p, text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    };
    if let Some(p) = &opts.folded {
        write(p, report.folded_text())?;
    }
    if let Some(p) = &opts.trace_json {
        write(p, report.trace_json())?;
    }
    if let Some(p) = &opts.json {
        write(p, report.json())?;
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(report.summary(opts.top.max(1)).as_bytes());
    if report.events_dropped > 0 {
        let _ = writeln!(
            err,
            "(trace JSON: {} short calls left out past {MAX_EVENTS} events)",
            report.events_dropped
        );
    }
    Ok(outcome)
}
