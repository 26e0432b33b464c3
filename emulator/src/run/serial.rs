//! The console as a byte stream: stdin/stdout (raw mode on a terminal, with Ctrl-] or
//! Ctrl-A X to quit), a pty announced as QEMU announces it, or a TCP client; served
//! with virtual time paced to wall time while nothing waits.

use std::io::{IsTerminal, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use super::exit::*;
use super::{fail, finish, Fail};
use crate::session::{Session, SessionConfig};

/// A byte stream to and from the console: stdin/stdout, a pty, or a TCP client.
struct Link {
    rx: mpsc::Receiver<Option<Vec<u8>>>,
    tx: Box<dyn Write>,
    /// Interactive terminal: Ctrl-] or Ctrl-A X quit.
    escapes: bool,
}

fn spawn_reader(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // A pty whose peer closed: wait for the next one.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    });
    rx
}

struct RawMode(bool);

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

fn open_link(serial: &str) -> Result<(Link, RawMode), Fail> {
    if serial == "stdio" {
        let tty = std::io::stdin().is_terminal();
        let raw = if tty {
            crossterm::terminal::enable_raw_mode()
                .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("raw terminal mode: {e}")))?;
            eprint!("pybsim: REPL on the console; Ctrl-] or Ctrl-A X quits\r\n");
            RawMode(true)
        } else {
            RawMode(false)
        };
        return Ok((
            Link {
                rx: spawn_reader(std::io::stdin()),
                tx: Box::new(std::io::stdout()),
                escapes: tty,
            },
            raw,
        ));
    }
    if serial == "pty" {
        let pty = nix::pty::openpty(None, None)
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("opening a pty: {e}")))?;
        let master = std::fs::File::from(pty.master);
        // Raw mode on our side so bytes pass untouched.
        if let Ok(mut t) = nix::sys::termios::tcgetattr(&pty.slave) {
            nix::sys::termios::cfmakeraw(&mut t);
            let _ =
                nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t);
        }
        let name = nix::unistd::ttyname(&pty.slave)
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("pty name: {e}")))?;
        // Keep the slave open so the pty survives its peers closing and reopening it.
        std::mem::forget(pty.slave);
        println!(
            "char device redirected to {} (label serial0)",
            name.display()
        );
        let _ = std::io::stdout().flush();
        let reader = master
            .try_clone()
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("pty: {e}")))?;
        return Ok((
            Link {
                rx: spawn_reader(reader),
                tx: Box::new(master),
                escapes: false,
            },
            RawMode(false),
        ));
    }
    if let Some(port) = serial.strip_prefix("tcp:") {
        let port: u16 = port.parse().map_err(|_| {
            fail(
                EXIT_USAGE,
                anyhow!("--serial {serial}: {port:?} is not a port number"),
            )
        })?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("--serial {serial}: {e}")))?;
        eprintln!("pybsim: waiting for a connection on 127.0.0.1:{port}");
        let (sock, _) = listener
            .accept()
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("--serial {serial}: {e}")))?;
        let r = sock
            .try_clone()
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("--serial {serial}: {e}")))?;
        return Ok((
            Link {
                rx: spawn_reader(r),
                tx: Box::new(sock),
                escapes: false,
            },
            RawMode(false),
        ));
    }
    Err(fail(
        EXIT_USAGE,
        anyhow!("--serial {serial}: expected stdio, pty or tcp:PORT"),
    ))
}

/// Serves the console over a link until the peer quits, the input ends or the run
/// stops. Virtual time is paced to wall time while nothing is waiting, so an idle REPL
/// does not spin.
pub fn serve(session: &mut Session, serial: &str, cfg: &SessionConfig) -> Result<u8, Fail> {
    let (mut link, _raw) = open_link(serial)?;
    let start = Instant::now();
    let mut eof = false;
    let mut ctrl_a = false;
    let mut idle_after_eof = 0u32;
    loop {
        // Host input enters between slices.
        while let Ok(msg) = link.rx.try_recv() {
            match msg {
                None => eof = true,
                Some(bytes) => {
                    let mut fwd = Vec::with_capacity(bytes.len());
                    for b in bytes {
                        if link.escapes {
                            if ctrl_a {
                                ctrl_a = false;
                                match b {
                                    b'x' | b'X' => return Ok(EXIT_OK),
                                    0x01 => fwd.push(0x01),
                                    _ => fwd.extend_from_slice(&[0x01, b]),
                                }
                                continue;
                            }
                            match b {
                                0x1D => return Ok(EXIT_OK),
                                0x01 => {
                                    ctrl_a = true;
                                    continue;
                                }
                                _ => {}
                            }
                        }
                        fwd.push(b);
                    }
                    session.console_input(&fwd);
                }
            }
        }
        if let Some(o) = session.step() {
            let out = session.take_output();
            let _ = link.tx.write_all(&out);
            let _ = link.tx.flush();
            return Ok(finish(session, o, cfg));
        }
        let out = session.take_output();
        if !out.is_empty()
            && link
                .tx
                .write_all(&out)
                .and_then(|_| link.tx.flush())
                .is_err()
        {
            // The reader is gone (a closed pipe or socket): nobody can see the board.
            tracing::info!(
                t = session.machine.now(),
                "console peer went away; stopping"
            );
            return Ok(EXIT_OK);
        }
        if eof && session.machine.console_pending() == 0 {
            idle_after_eof = if out.is_empty() {
                idle_after_eof + 1
            } else {
                0
            };
            if idle_after_eof > 200 {
                return Ok(EXIT_OK);
            }
            continue;
        }
        if session.machine.console_pending() == 0 {
            let virt = Duration::from_nanos(session.virtual_ns());
            let wall = start.elapsed();
            if virt > wall {
                std::thread::sleep((virt - wall).min(Duration::from_millis(20)));
            }
        }
    }
}
