//! A USB host on the board's USB connector: it powers VBUS, notices the device's D+
//! pull-up, resets the bus, enumerates the device the way a PC's host controller and
//! driver do, opens the CDC ACM serial port and then carries console bytes over the CDC
//! bulk endpoints (USB 2.0 chapters 7-9, CDC 1.2 / PSTN 1.2 §6.3).
//!
//! Everything happens in virtual time on the machine's scheduler, no threads:
//!
//! - Attach: VBUS on (the OTG core senses it on PA9; PA9 also reads high as a GPIO input,
//!   as on a Pyboard plugged into a PC). The host then waits for the pull-up.
//! - Connect: [`T_ATTDB`] debounce (100 ms), bus reset held [`T_DRST`] (10 ms; USBRST at
//!   its start, ENUMDNE at its end), SOFs from then on every 1 ms frame, [`T_RSTRCY`]
//!   (10 ms) reset recovery.
//! - Enumeration, one control transfer after another: GET_DESCRIPTOR(device, 64) at
//!   address 0 (for bMaxPacketSize0), SET_ADDRESS(1) and its 2 ms recovery,
//!   GET_DESCRIPTOR(device, 18), GET_DESCRIPTOR(configuration, 9), then the whole
//!   configuration, SET_CONFIGURATION. The configuration is parsed for the CDC ACM
//!   communication interface (class 02/02) and its data interface (class 0A) with a bulk
//!   IN and a bulk OUT endpoint; other functions of a composite device (the Pyboard's
//!   mass storage, HID) are listed in the log and left alone.
//! - Opening the port: SET_LINE_CODING (115200 8N1) and SET_CONTROL_LINE_STATE (DTR and
//!   RTS) to the communication interface, as a terminal program opening the tty does.
//! - Then the bulk IN endpoint is polled for console output, and console input goes out
//!   in bulk OUT packets of at most wMaxPacketSize.
//!
//! Bus timing: a transaction occupies the bus for its packets' bit times at 12 Mbit/s
//! (token 35 bits, data 35 + 8n, handshake 19, 8 bit times of turnaround between
//! packets; bit stuffing not counted) and must end before the frame does, so a frame
//! carries at most about 19 bulk packets of 64 bytes, the full-speed limit. A NAKed
//! pipe is retried when the device model reports a change ([`Effect::UsbDeviceChanged`],
//! e.g. the firmware armed the endpoint) or at the next frame; a real host retries
//! continuously, which the firmware cannot tell apart. A control request the device has
//! not completed 5 s after it started (USB 2.0 §9.2.6.4) ends the enumeration with a
//! warning; the host then waits for the device to disconnect.
//!
//! Not modelled: data toggles, CRC and bit errors, suspend (the host never stops SOF),
//! the CDC notification (interrupt IN) endpoint (not polled), string descriptors, the
//! second bus reset some hosts do after the first GET_DESCRIPTOR, USB mass storage
//! (the flash drive the Pyboard exposes is enumerated but never used), more than one CDC
//! function (the first one is the console).
//!
//! [`Effect::UsbDeviceChanged`]: pybsim_peripherals::Effect::UsbDeviceChanged

use std::collections::VecDeque;

use pybsim_peripherals::otg_fs::{Handshake, InReply, OtgFs};
use pybsim_peripherals::Ctx;

use super::{Machine, SIo, Soc, SocEvent};

const T: &str = "usb_host";

/// Attach debounce before the reset (USB 2.0 §7.1.7.3, TATTDB), ns.
pub const T_ATTDB: u64 = 100_000_000;
/// Bus reset duration (TDRST, ≥ 10 ms), ns.
pub const T_DRST: u64 = 10_000_000;
/// Reset recovery (TRSTRCY), ns.
pub const T_RSTRCY: u64 = 10_000_000;
/// SET_ADDRESS recovery (§9.2.6.3), ns.
pub const T_SETADDR: u64 = 2_000_000;
/// Full-speed frame, ns.
pub const FRAME_NS: u64 = 1_000_000;
/// Full-speed bit rate.
const BIT_HZ: u64 = 12_000_000;
/// Bit times in a frame the host may fill with transactions (12000 less the SOF and the
/// end-of-frame guard).
const FRAME_BITS: u64 = 11_900;

/// Scheduler tokens of the host.
const RUN: u32 = 0;
const SOF: u32 = 1;

/// The address the host gives the device.
const ADDRESS: u8 = 1;
/// Control transfers tried again after a missing answer before the host gives up.
const RETRIES: u32 = 3;
/// A control request the device keeps NAKing is abandoned after this long, ns (USB 2.0
/// §9.2.6.4: a device completes a standard request within 5 s).
pub const T_CTL_TIMEOUT: u64 = 5_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No pull-up seen.
    Detached,
    /// Pull-up seen; debouncing until the time given.
    Debounce(u64),
    /// Driving SE0 until the time given.
    Reset(u64),
    /// Reset recovery until the time given.
    Recovery(u64),
    /// Control transfers of enumeration and port opening.
    Enumerating,
    /// The CDC port is open.
    Running,
    /// Enumeration failed (logged); the host waits for a disconnect.
    Failed,
}

/// What a control transfer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    DeviceDesc64,
    SetAddress,
    DeviceDesc,
    ConfigHeader,
    Config,
    SetConfiguration,
    SetLineCoding,
    SetControlLineState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Setup,
    DataIn,
    DataOut(usize),
    StatusIn,
    StatusOut,
}

#[derive(Debug, Clone)]
struct Control {
    step: Step,
    req: [u8; 8],
    out: Vec<u8>,
    got: Vec<u8>,
    stage: Stage,
}

impl Control {
    fn new(step: Step, req_type: u8, req: u8, value: u16, index: u16, len: u16) -> Control {
        let v = value.to_le_bytes();
        let i = index.to_le_bytes();
        let l = len.to_le_bytes();
        Control {
            step,
            req: [req_type, req, v[0], v[1], i[0], i[1], l[0], l[1]],
            out: Vec::new(),
            got: Vec::new(),
            stage: Stage::Setup,
        }
    }

    fn len(&self) -> usize {
        u16::from_le_bytes([self.req[6], self.req[7]]) as usize
    }
}

/// The CDC ACM function found in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdcAcm {
    /// Communication (control) interface number: class requests go there.
    pub comm_iface: u8,
    pub data_iface: u8,
    /// Bulk IN endpoint number and its wMaxPacketSize.
    pub ep_in: u8,
    pub in_mps: usize,
    /// Bulk OUT endpoint number and its wMaxPacketSize.
    pub ep_out: u8,
    pub out_mps: usize,
}

/// What a configuration descriptor set holds, for the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigInfo {
    pub value: u8,
    /// Every interface (alternate setting 0): number, class, subclass, protocol.
    pub interfaces: Vec<(u8, u8, u8, u8)>,
    pub cdc: Option<CdcAcm>,
}

/// Parses a configuration descriptor with its interface, endpoint and class-specific
/// descriptors (USB 2.0 §9.6.3-9.6.6, interface association and CDC functional
/// descriptors skipped). Errors name the offset and what is wrong.
pub fn parse_config(d: &[u8]) -> Result<ConfigInfo, String> {
    if d.len() < 9 || d[1] != 2 {
        return Err(format!(
            "not a configuration descriptor: {:02x?}",
            &d[..d.len().min(9)]
        ));
    }
    let mut info = ConfigInfo {
        value: d[5],
        ..Default::default()
    };
    let mut comm: Option<u8> = None;
    // (interface, class, alt) of the interface whose endpoints follow.
    let mut cur: Option<(u8, u8, u8)> = None;
    let mut data_eps: Vec<(u8, u8, usize, u8)> = Vec::new(); // (iface, addr, mps, attr)
    let mut off = 0;
    while off < d.len() {
        let len = d[off] as usize;
        if len < 2 || off + len > d.len() {
            return Err(format!(
                "descriptor at offset {off} has length {len}, past the end"
            ));
        }
        let desc = &d[off..off + len];
        match desc[1] {
            4 if len >= 9 => {
                let (num, alt, class, sub, proto) = (desc[2], desc[3], desc[5], desc[6], desc[7]);
                if alt == 0 {
                    info.interfaces.push((num, class, sub, proto));
                }
                if class == 2 && sub == 2 && comm.is_none() {
                    comm = Some(num);
                }
                cur = Some((num, class, alt));
            }
            5 if len >= 7 => {
                if let Some((iface, 0x0A, _)) = cur {
                    let mps = u16::from_le_bytes([desc[4], desc[5]]) as usize & 0x7FF;
                    if desc[2] & 0xF == 0 || mps == 0 {
                        // USB 2.0 §9.6.6: endpoint 0 has no descriptor, and a packet
                        // size of 0 moves nothing; hosts skip such endpoints.
                        tracing::warn!(
                            target: T,
                            "endpoint descriptor at offset {off}: address {:#04x}, wMaxPacketSize {mps}: skipped",
                            desc[2]
                        );
                    } else {
                        // Full-speed bulk packets are at most 64 bytes (§5.8.3); hosts
                        // use 64 for a larger value.
                        data_eps.push((iface, desc[2], mps.min(64), desc[3] & 3));
                    }
                }
            }
            _ => {}
        }
        off += len;
    }
    if let Some(c) = comm {
        // The data interface of the first CDC function: the first class 0A interface with
        // a bulk IN and a bulk OUT endpoint.
        let mut ifaces: Vec<u8> = data_eps.iter().map(|e| e.0).collect();
        ifaces.dedup();
        for di in ifaces {
            let bulk = |dir_in: bool| {
                data_eps
                    .iter()
                    .find(|e| e.0 == di && e.3 == 2 && (e.1 & 0x80 != 0) == dir_in)
                    .map(|e| (e.1 & 0xF, e.2))
            };
            if let (Some((i, im)), Some((o, om))) = (bulk(true), bulk(false)) {
                info.cdc = Some(CdcAcm {
                    comm_iface: c,
                    data_iface: di,
                    ep_in: i,
                    in_mps: im,
                    ep_out: o,
                    out_mps: om,
                });
                break;
            }
        }
    }
    Ok(info)
}

fn class_name(class: u8, sub: u8) -> &'static str {
    match (class, sub) {
        (2, 2) => "CDC ACM control (console)",
        (2, _) => "CDC control",
        (0x0A, _) => "CDC data",
        (8, _) => "mass storage (not used: MSC is not modelled by the host)",
        (3, _) => "HID (not used)",
        _ => "not used",
    }
}

/// The host model's state. It lives in [`Soc`] while attached.
#[derive(Debug)]
pub struct UsbHost {
    dev: Option<u16>,
    state: State,
    /// The bus is busy with the previous transaction until this cycle.
    bus_free: u64,
    frame: u16,
    frame_start: u64,
    sof_running: bool,
    addr: u8,
    ep0_mps: usize,
    ctl: Option<Control>,
    /// A NAKed control stage waits for the device.
    ctl_waiting: bool,
    /// The cycle at which the control transfer in `ctl` started.
    ctl_since: u64,
    retries: u32,
    /// Not before this cycle (SET_ADDRESS recovery).
    hold_until: u64,
    config: Option<ConfigInfo>,
    cdc: Option<CdcAcm>,
    in_waiting: bool,
    out_waiting: bool,
    /// Console output received over bulk IN, not yet taken.
    rx: Vec<u8>,
    /// Console input still to send over bulk OUT.
    tx: VecDeque<u8>,
    /// Virtual µs at which the port was opened (for reports).
    pub opened_us: Option<u64>,
    /// A device has pulled D+ up at some point.
    seen: bool,
}

impl UsbHost {
    fn new() -> UsbHost {
        UsbHost {
            dev: None,
            state: State::Detached,
            bus_free: 0,
            frame: 0,
            frame_start: 0,
            sof_running: false,
            addr: 0,
            ep0_mps: 8,
            ctl: None,
            ctl_waiting: false,
            ctl_since: 0,
            retries: 0,
            hold_until: 0,
            config: None,
            cdc: None,
            in_waiting: false,
            out_waiting: false,
            rx: Vec::new(),
            tx: VecDeque::new(),
            opened_us: None,
            seen: false,
        }
    }

    /// The CDC port is open (enumerated, configured, DTR raised).
    pub fn cdc_open(&self) -> bool {
        self.state == State::Running
    }

    /// Where the host is, in words, for error messages.
    pub fn status(&self) -> String {
        match self.state {
            State::Detached => "the USB device never connected (no D+ pull-up)".into(),
            State::Debounce(_) | State::Reset(_) | State::Recovery(_) => {
                "the USB device is being reset".into()
            }
            State::Enumerating => match &self.ctl {
                Some(c) => format!("USB enumeration stalled at {:?} ({:?})", c.step, c.stage),
                None => "USB enumeration in progress".into(),
            },
            State::Running => "the USB CDC port is open".into(),
            State::Failed => "USB enumeration failed (see the usb_host log)".into(),
        }
    }

    fn detach(&mut self) {
        let rx = std::mem::take(&mut self.rx);
        let opened = self.opened_us;
        *self = UsbHost {
            dev: self.dev,
            rx,
            opened_us: opened,
            seen: self.seen,
            ..UsbHost::new()
        };
    }
}

/// Virtual µs of the machine's cycle `t` (following the clock changes).
fn micros(clock_log: &[(u64, u32)], t: u64) -> u64 {
    let (mut ns, mut t0, mut hz) = (0u128, 0u64, pybsim_peripherals::Clocks::RESET.sysclk);
    for &(at, h) in clock_log {
        if at > t {
            break;
        }
        ns += (at - t0) as u128 * 1_000_000_000 / hz.max(1) as u128;
        (t0, hz) = (at, h);
    }
    ns += (t - t0) as u128 * 1_000_000_000 / hz.max(1) as u128;
    (ns / 1000) as u64
}

impl Soc {
    fn ns_to_cycles(&self, ns: u64) -> u64 {
        (ns as u128 * self.clocks.sysclk as u128).div_ceil(1_000_000_000) as u64
    }

    fn bits_to_cycles(&self, bits: u64) -> u64 {
        (bits as u128 * self.clocks.sysclk as u128).div_ceil(BIT_HZ as u128) as u64
    }

    /// Runs `f` on the OTG FS model at `at` and applies its effects.
    fn otg<R>(
        &mut self,
        io: &mut SIo,
        idx: u16,
        at: u64,
        f: impl FnOnce(&mut OtgFs, &mut Ctx) -> R,
    ) -> Option<R> {
        let (r, mut fx) = self.with_model(idx, at, f);
        self.apply_effects(io, idx, &mut fx);
        r
    }

    /// The device changed what the bus sees: NAKed pipes may go again.
    pub(super) fn usb_wake(&mut self, io: &mut SIo) {
        if let Some(h) = self.usb_host.as_mut() {
            h.in_waiting = false;
            h.out_waiting = false;
            h.ctl_waiting = false;
            io.schedule(SocEvent::UsbHost, RUN, io.now());
        }
    }

    /// A host event fired at `at`.
    pub(super) fn usb_host_event(&mut self, io: &mut SIo, at: u64, token: u32) {
        let Some(mut h) = self.usb_host.take() else {
            return;
        };
        match token {
            SOF => self.usb_sof(io, &mut h, at),
            _ => self.usb_run(io, &mut h, at),
        }
        self.usb_host = Some(h);
    }

    fn usb_sof(&mut self, io: &mut SIo, h: &mut UsbHost, at: u64) {
        let Some(idx) = h.dev else { return };
        if !h.sof_running {
            return;
        }
        h.frame = (h.frame + 1) & 0x7FF;
        h.frame_start = at;
        let frame = h.frame;
        self.otg(io, idx, at, |d, ctx| d.sof(ctx, frame));
        let next = at + self.ns_to_cycles(FRAME_NS);
        io.schedule(SocEvent::UsbHost, SOF, next);
        // Every frame the host tries its pending pipes again.
        h.in_waiting = false;
        h.out_waiting = false;
        h.ctl_waiting = false;
        let after_sof = at + self.bits_to_cycles(35 + 8);
        h.bus_free = h.bus_free.max(after_sof);
        io.schedule(SocEvent::UsbHost, RUN, h.bus_free);
    }

    fn usb_run(&mut self, io: &mut SIo, h: &mut UsbHost, at: u64) {
        let Some(idx) = h.dev else { return };
        let pull = self.otg(io, idx, at, |d, _| d.pullup()).unwrap_or(false);
        let us = micros(io.clock_log(), at);
        if !pull && h.state != State::Detached {
            tracing::info!(target: T, t = at, us, "device disconnected (D+ pull-up gone)");
            h.detach();
            io.cancel(SocEvent::UsbHost, SOF);
            return;
        }
        match h.state {
            State::Detached => {
                if pull {
                    h.seen = true;
                    tracing::info!(target: T, t = at, us, "device attached (D+ pull-up); debounce");
                    let until = at + self.ns_to_cycles(T_ATTDB);
                    h.state = State::Debounce(until);
                    io.schedule(SocEvent::UsbHost, RUN, until);
                }
            }
            State::Debounce(until) => {
                if at < until {
                    io.schedule(SocEvent::UsbHost, RUN, until);
                    return;
                }
                tracing::info!(target: T, t = at, us, "bus reset");
                self.otg(io, idx, at, |d, ctx| d.bus_reset(ctx));
                let until = at + self.ns_to_cycles(T_DRST);
                h.state = State::Reset(until);
                io.schedule(SocEvent::UsbHost, RUN, until);
            }
            State::Reset(until) => {
                if at < until {
                    io.schedule(SocEvent::UsbHost, RUN, until);
                    return;
                }
                self.otg(io, idx, at, |d, ctx| d.bus_reset_end(ctx));
                tracing::info!(target: T, t = at, us, "reset done; SOF every 1 ms");
                h.sof_running = true;
                h.frame_start = at;
                h.bus_free = at;
                io.schedule(SocEvent::UsbHost, SOF, at + self.ns_to_cycles(FRAME_NS));
                let until = at + self.ns_to_cycles(T_RSTRCY);
                h.state = State::Recovery(until);
                io.schedule(SocEvent::UsbHost, RUN, until);
            }
            State::Recovery(until) => {
                if at < until {
                    io.schedule(SocEvent::UsbHost, RUN, until);
                    return;
                }
                h.state = State::Enumerating;
                h.addr = 0;
                // Until the descriptor says, assume 64 (a short first packet ends the
                // stage), as hosts do for full-speed devices.
                h.ep0_mps = 64;
                h.ctl = Some(Control::new(Step::DeviceDesc64, 0x80, 6, 0x0100, 0, 64));
                h.ctl_since = at;
                self.usb_transact(io, h, idx, at);
            }
            State::Enumerating | State::Running => self.usb_transact(io, h, idx, at),
            State::Failed => {}
        }
    }

    /// Runs the next transaction, if any can go now, and schedules the one after it.
    fn usb_transact(&mut self, io: &mut SIo, h: &mut UsbHost, idx: u16, at: u64) {
        if at < h.bus_free || at < h.hold_until {
            let t = h.bus_free.max(h.hold_until);
            io.schedule(SocEvent::UsbHost, RUN, t);
            return;
        }
        // Which pipe goes: the control transfer, else bulk OUT with data, else bulk IN.
        enum Pipe {
            Control,
            BulkOut,
            BulkIn,
        }
        let pipe = if let Some(c) = &h.ctl {
            if at.saturating_sub(h.ctl_since) > self.ns_to_cycles(T_CTL_TIMEOUT) {
                let us = micros(io.clock_log(), at);
                tracing::warn!(
                    target: T,
                    t = at,
                    us,
                    step = ?c.step,
                    "enumeration failed: the device did not complete the request within 5 s"
                );
                h.state = State::Failed;
                h.ctl = None;
                io.cancel(SocEvent::UsbHost, RUN);
                return;
            }
            if h.ctl_waiting {
                return;
            }
            Pipe::Control
        } else if let (Some(_), State::Running) = (h.cdc, h.state) {
            if !h.tx.is_empty() && !h.out_waiting {
                Pipe::BulkOut
            } else if !h.in_waiting {
                Pipe::BulkIn
            } else {
                return;
            }
        } else {
            return;
        };
        // The longest this transaction can take (a full data packet); it must end
        // before the frame does.
        let max_bits = match pipe {
            Pipe::Control => 177.max(113 + 8 * h.ep0_mps as u64),
            Pipe::BulkOut => 113 + 8 * h.cdc.map_or(64, |c| c.out_mps) as u64,
            Pipe::BulkIn => 113 + 8 * h.cdc.map_or(64, |c| c.in_mps) as u64,
        };
        let frame_end = h.frame_start + self.bits_to_cycles(FRAME_BITS);
        if at + self.bits_to_cycles(max_bits) > frame_end {
            return; // the next SOF runs it
        }
        let bits = match pipe {
            Pipe::Control => self.usb_control(io, h, idx, at),
            Pipe::BulkOut => {
                let cdc = h.cdc.expect("running means a CDC function");
                let n = h.tx.len().min(cdc.out_mps);
                let data: Vec<u8> = h.tx.iter().take(n).copied().collect();
                let addr = h.addr;
                let hs = self
                    .otg(io, idx, at, |d, ctx| {
                        d.out(ctx, addr, cdc.ep_out as usize, &data)
                    })
                    .unwrap_or(Handshake::None);
                match hs {
                    Handshake::Ack => {
                        h.tx.drain(..n);
                        tracing::debug!(target: T, t = at, n, "bulk OUT");
                    }
                    Handshake::Nak => h.out_waiting = true,
                    Handshake::Stall | Handshake::None => {
                        tracing::warn!(target: T, t = at, ?hs, "bulk OUT not accepted; console input dropped");
                        h.tx.clear();
                    }
                }
                113 + 8 * n as u64
            }
            Pipe::BulkIn => {
                let cdc = h.cdc.expect("running means a CDC function");
                let addr = h.addr;
                let r = self
                    .otg(io, idx, at, |d, ctx| {
                        d.in_token(ctx, addr, cdc.ep_in as usize)
                    })
                    .unwrap_or(InReply::None);
                match r {
                    InReply::Data(d) => {
                        let n = d.len() as u64;
                        for o in self.observers.iter_mut() {
                            o.console(at, super::ConsolePort::Usb, &d);
                        }
                        h.rx.extend_from_slice(&d);
                        113 + 8 * n
                    }
                    InReply::Nak => {
                        h.in_waiting = true;
                        70
                    }
                    InReply::Stall | InReply::None => {
                        tracing::warn!(target: T, t = at, ?r, "bulk IN failed; the host stops reading");
                        h.in_waiting = true;
                        70
                    }
                }
            }
        };
        h.bus_free = at + self.bits_to_cycles(bits);
        io.schedule(SocEvent::UsbHost, RUN, h.bus_free);
    }

    /// One transaction of the control transfer in progress; returns its bit time.
    fn usb_control(&mut self, io: &mut SIo, h: &mut UsbHost, idx: u16, at: u64) -> u64 {
        let Some(mut c) = h.ctl.take() else { return 0 };
        let addr = h.addr;
        let mps = h.ep0_mps;
        let us = micros(io.clock_log(), at);
        let mut done = false;
        let mut failed: Option<String> = None;
        let bits = match c.stage {
            Stage::Setup => {
                let req = c.req;
                match self
                    .otg(io, idx, at, |d, ctx| d.setup(ctx, addr, 0, req))
                    .unwrap_or(Handshake::None)
                {
                    Handshake::Ack => {
                        h.retries = 0;
                        c.stage = if c.len() == 0 {
                            Stage::StatusIn
                        } else if c.req[0] & 0x80 != 0 {
                            Stage::DataIn
                        } else {
                            Stage::DataOut(0)
                        };
                    }
                    hs => {
                        h.retries += 1;
                        if h.retries > RETRIES {
                            failed = Some(format!("SETUP not acknowledged ({hs:?})"));
                        } else {
                            h.ctl_waiting = true;
                        }
                    }
                }
                177
            }
            Stage::DataIn => match self
                .otg(io, idx, at, |d, ctx| d.in_token(ctx, addr, 0))
                .unwrap_or(InReply::None)
            {
                InReply::Data(d) => {
                    let n = d.len();
                    c.got.extend_from_slice(&d);
                    if n < mps || c.got.len() >= c.len() {
                        c.got.truncate(c.len());
                        c.stage = Stage::StatusOut;
                    }
                    113 + 8 * n as u64
                }
                InReply::Nak => {
                    h.ctl_waiting = true;
                    70
                }
                r => {
                    failed = Some(format!("data stage answered {r:?}"));
                    70
                }
            },
            Stage::DataOut(off) => {
                let end = (off + mps).min(c.out.len());
                let chunk = c.out[off..end].to_vec();
                let n = chunk.len() as u64;
                match self
                    .otg(io, idx, at, |d, ctx| d.out(ctx, addr, 0, &chunk))
                    .unwrap_or(Handshake::None)
                {
                    Handshake::Ack => {
                        c.stage = if end >= c.out.len() {
                            Stage::StatusIn
                        } else {
                            Stage::DataOut(end)
                        };
                    }
                    Handshake::Nak => h.ctl_waiting = true,
                    hs => failed = Some(format!("data stage answered {hs:?}")),
                }
                113 + 8 * n
            }
            Stage::StatusIn => match self
                .otg(io, idx, at, |d, ctx| d.in_token(ctx, addr, 0))
                .unwrap_or(InReply::None)
            {
                InReply::Data(_) => {
                    done = true;
                    113
                }
                InReply::Nak => {
                    h.ctl_waiting = true;
                    70
                }
                r => {
                    failed = Some(format!("status stage answered {r:?}"));
                    70
                }
            },
            Stage::StatusOut => match self
                .otg(io, idx, at, |d, ctx| d.out(ctx, addr, 0, &[]))
                .unwrap_or(Handshake::None)
            {
                Handshake::Ack => {
                    done = true;
                    113
                }
                Handshake::Nak => {
                    h.ctl_waiting = true;
                    113
                }
                hs => {
                    failed = Some(format!("status stage answered {hs:?}"));
                    113
                }
            },
        };
        if let Some(why) = failed {
            tracing::warn!(target: T, t = at, us, step = ?c.step, "enumeration failed: {why}");
            h.state = State::Failed;
            io.cancel(SocEvent::UsbHost, RUN);
            return bits;
        }
        if !done {
            h.ctl = Some(c);
            return bits;
        }
        self.usb_control_done(h, c, at, us);
        bits
    }

    /// A control transfer completed: act on its result and start the next one.
    fn usb_control_done(&mut self, h: &mut UsbHost, c: Control, at: u64, us: u64) {
        let d = &c.got;
        let next = match c.step {
            Step::DeviceDesc64 => {
                if d.len() < 8 || d[1] != 1 {
                    tracing::warn!(target: T, t = at, us, "bad device descriptor {d:02x?}");
                    h.state = State::Failed;
                    return;
                }
                h.ep0_mps = (d[7] as usize).clamp(8, 64);
                tracing::info!(target: T, t = at, us, ep0_mps = h.ep0_mps, "GET_DESCRIPTOR device at address 0");
                Some(Control::new(
                    Step::SetAddress,
                    0x00,
                    5,
                    ADDRESS as u16,
                    0,
                    0,
                ))
            }
            Step::SetAddress => {
                h.addr = ADDRESS;
                h.hold_until = at + self.ns_to_cycles(T_SETADDR);
                tracing::info!(target: T, t = at, us, addr = ADDRESS, "SET_ADDRESS");
                Some(Control::new(Step::DeviceDesc, 0x80, 6, 0x0100, 0, 18))
            }
            Step::DeviceDesc => {
                if d.len() >= 18 {
                    let vid = u16::from_le_bytes([d[8], d[9]]);
                    let pid = u16::from_le_bytes([d[10], d[11]]);
                    tracing::info!(
                        target: T,
                        t = at,
                        us,
                        "GET_DESCRIPTOR device: USB {:x}.{:02x}, class {:02x}, VID {vid:04x} PID {pid:04x}, {} configuration(s)",
                        d[3],
                        d[2],
                        d[4],
                        d[17]
                    );
                }
                Some(Control::new(Step::ConfigHeader, 0x80, 6, 0x0200, 0, 9))
            }
            Step::ConfigHeader => {
                let total = if d.len() >= 4 {
                    u16::from_le_bytes([d[2], d[3]])
                } else {
                    9
                };
                tracing::info!(target: T, t = at, us, total, "GET_DESCRIPTOR configuration (header)");
                Some(Control::new(Step::Config, 0x80, 6, 0x0200, 0, total))
            }
            Step::Config => match parse_config(d) {
                Ok(info) => {
                    for &(n, class, sub, _) in &info.interfaces {
                        tracing::info!(
                            target: T,
                            t = at,
                            us,
                            "interface {n}: class {class:02x}/{sub:02x}, {}",
                            class_name(class, sub)
                        );
                    }
                    let value = info.value;
                    h.cdc = info.cdc;
                    h.config = Some(info);
                    if h.cdc.is_none() {
                        tracing::warn!(target: T, t = at, us, "the configuration has no CDC ACM function: no USB console");
                    }
                    Some(Control::new(
                        Step::SetConfiguration,
                        0x00,
                        9,
                        value as u16,
                        0,
                        0,
                    ))
                }
                Err(e) => {
                    tracing::warn!(target: T, t = at, us, "configuration descriptor: {e}");
                    h.state = State::Failed;
                    return;
                }
            },
            Step::SetConfiguration => {
                tracing::info!(target: T, t = at, us, "SET_CONFIGURATION");
                h.cdc.map(|cdc| {
                    let mut c =
                        Control::new(Step::SetLineCoding, 0x21, 0x20, 0, cdc.comm_iface as u16, 7);
                    // 115200 baud, 1 stop bit, no parity, 8 data bits.
                    c.out = vec![0x00, 0xC2, 0x01, 0x00, 0, 0, 8];
                    c
                })
            }
            Step::SetLineCoding => {
                tracing::info!(target: T, t = at, us, "SET_LINE_CODING 115200 8N1");
                let cdc = h.cdc.expect("line coding only with a CDC function");
                Some(Control::new(
                    Step::SetControlLineState,
                    0x21,
                    0x22,
                    3,
                    cdc.comm_iface as u16,
                    0,
                ))
            }
            Step::SetControlLineState => {
                let cdc = h.cdc.expect("line state only with a CDC function");
                tracing::info!(
                    target: T,
                    t = at,
                    us,
                    ep_in = cdc.ep_in,
                    ep_out = cdc.ep_out,
                    "SET_CONTROL_LINE_STATE DTR RTS: CDC port open"
                );
                h.state = State::Running;
                h.opened_us = Some(us);
                None
            }
        };
        if next.is_none() && h.state == State::Enumerating {
            // Configured, but nothing to talk to.
            h.state = State::Failed;
        }
        h.ctl = next;
        h.ctl_since = at;
    }
}

impl Machine {
    /// Plugs the board into a USB host: VBUS on (PA9 high), and a host that enumerates
    /// the device once it pulls D+ up.
    pub fn usb_attach(&mut self) {
        self.with_soc_io(|s, io| {
            if s.usb_host.is_some() {
                return;
            }
            let idx = s.bus.index_of("USB_OTG_FS");
            let mut h = UsbHost::new();
            h.dev = idx;
            s.usb_host = Some(Box::new(h));
            if let Some(i) = idx {
                let now = io.now();
                s.otg(io, i, now, |d, ctx| d.set_vbus(ctx, true));
            }
            s.drive_pin(io, 0, 9, Some(true));
            io.refresh_deadline();
        });
    }

    /// The host's CDC port is open.
    pub fn usb_cdc_open(&self) -> bool {
        self.with_soc(|s| s.usb_host.as_ref().is_some_and(|h| h.cdc_open()))
    }

    /// A USB device has connected to the host at some point (its console is USB).
    pub fn usb_device_seen(&self) -> bool {
        self.with_soc(|s| s.usb_host.as_ref().is_some_and(|h| h.seen))
    }

    /// What the host is doing, for messages (None when no host is attached).
    pub fn usb_status(&self) -> Option<String> {
        self.with_soc(|s| s.usb_host.as_ref().map(|h| h.status()))
    }

    /// Virtual µs at which the CDC port opened.
    pub fn usb_opened_us(&self) -> Option<u64> {
        self.with_soc(|s| s.usb_host.as_ref().and_then(|h| h.opened_us))
    }

    /// Queues console input for the CDC bulk OUT endpoint (sent from now on).
    pub fn usb_input(&mut self, bytes: &[u8]) {
        self.with_soc_io(|s, io| {
            let now = io.now();
            if let Some(h) = s.usb_host.as_mut() {
                h.tx.extend(bytes.iter().copied());
                h.out_waiting = false;
                io.schedule(SocEvent::UsbHost, RUN, now);
                io.refresh_deadline();
            }
        });
    }

    /// Takes the console output received over CDC since the last call.
    pub fn take_usb_output(&mut self) -> Vec<u8> {
        self.with_soc(|s| {
            s.usb_host
                .as_mut()
                .map(|h| std::mem::take(&mut h.rx))
                .unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A composite CDC + MSC configuration like the Pyboard's (IAD, CDC functional
    /// descriptors, MSC first).
    fn composite() -> Vec<u8> {
        let mut d = vec![9, 2, 0, 0, 3, 1, 0, 0x80, 250];
        d.extend([9, 4, 0, 0, 2, 8, 6, 0x50, 0]); // MSC
        d.extend([7, 5, 0x81, 2, 64, 0, 0]);
        d.extend([7, 5, 0x01, 2, 64, 0, 0]);
        d.extend([8, 11, 1, 2, 2, 2, 1, 0]); // IAD
        d.extend([9, 4, 1, 0, 1, 2, 2, 1, 0]); // CDC comm
        d.extend([5, 0x24, 0, 0x10, 1]);
        d.extend([4, 0x24, 2, 6]);
        d.extend([7, 5, 0x82, 3, 8, 0, 0x20]);
        d.extend([9, 4, 2, 0, 2, 0x0A, 0, 0, 0]); // CDC data
        d.extend([7, 5, 0x03, 2, 64, 0, 0]);
        d.extend([7, 5, 0x83, 2, 64, 0, 0]);
        let n = d.len() as u16;
        d[2..4].copy_from_slice(&n.to_le_bytes());
        d
    }

    #[test]
    fn finds_the_cdc_function_of_a_composite_device() {
        let info = parse_config(&composite()).unwrap();
        assert_eq!(info.value, 1);
        assert_eq!(
            info.interfaces,
            vec![(0, 8, 6, 0x50), (1, 2, 2, 1), (2, 0x0A, 0, 0)]
        );
        assert_eq!(
            info.cdc,
            Some(CdcAcm {
                comm_iface: 1,
                data_iface: 2,
                ep_in: 3,
                in_mps: 64,
                ep_out: 3,
                out_mps: 64
            })
        );
    }

    /// Endpoint 0 or wMaxPacketSize 0 is skipped (a zero-length bulk OUT never drains
    /// the console input); a bulk size above 64 is used as 64 (it never fitted a frame).
    #[test]
    fn unusable_endpoints_are_skipped_or_clamped() {
        let mut d = composite();
        let n = d.len();
        d[n - 14 + 4] = 0; // bulk OUT 0x03: wMaxPacketSize 0
        assert_eq!(parse_config(&d).unwrap().cdc, None);
        let mut d = composite();
        d[n - 14 + 2] = 0x00; // bulk OUT at endpoint 0
        assert_eq!(parse_config(&d).unwrap().cdc, None);
        let mut d = composite();
        d[n - 7 + 5] = 2; // bulk IN 0x83: 512 + 64 bytes
        let cdc = parse_config(&d).unwrap().cdc.unwrap();
        assert_eq!((cdc.in_mps, cdc.out_mps), (64, 64));
    }

    /// Arbitrary descriptor bytes (truncated, zero or huge lengths, random types) give
    /// a result or an error, never a panic or a loop.
    #[test]
    fn arbitrary_descriptor_bytes_never_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let base = composite();
        for _ in 0..20_000 {
            let mut d = if next() % 2 == 0 {
                base.clone()
            } else {
                (0..next() % 80).map(|_| next() as u8).collect()
            };
            for _ in 0..next() % 6 {
                if !d.is_empty() {
                    let i = (next() % d.len() as u64) as usize;
                    d[i] = next() as u8;
                }
            }
            if next() % 4 == 0 {
                d.truncate((next() % 70) as usize);
            }
            if let Ok(info) = parse_config(&d) {
                if let Some(c) = info.cdc {
                    assert!(c.ep_in != 0 && c.ep_out != 0);
                    assert!((1..=64).contains(&c.in_mps) && (1..=64).contains(&c.out_mps));
                }
            }
        }
    }

    #[test]
    fn bad_configurations_are_named() {
        let mut d = composite();
        d.truncate(20);
        d[18] = 40;
        let e = parse_config(&d).unwrap_err();
        assert!(e.contains("offset 18"), "{e}");
        assert!(parse_config(&[9, 1, 0]).is_err());
        // Mass storage only: parsed, but no console.
        let msc = [
            9, 2, 32, 0, 1, 1, 0, 0x80, 250, 9, 4, 0, 0, 2, 8, 6, 0x50, 0, 7, 5, 0x81, 2, 64, 0, 0,
            7, 5, 0x01, 2, 64, 0, 0,
        ];
        let info = parse_config(&msc).unwrap();
        assert_eq!(info.interfaces, vec![(0, 8, 6, 0x50)]);
        assert_eq!(info.cdc, None);
    }
}
