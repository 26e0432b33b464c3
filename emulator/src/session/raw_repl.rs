//! MicroPython's raw REPL, as `mpremote run` and pyboard.py drive it, as a state machine
//! that does no I/O: feed it what the board printed, and it says what to show, what the
//! script printed on stdout and stderr, and what to send back. Every way pybsim runs a
//! script on a board uses it (`Session::run_script`, `pybsim test`, the TUI, the
//! official-firmware tests), each with its own way of moving time on.
//!
//! The exchange: wait for the friendly prompt `>>> `, send CR and Ctrl-A, wait for the
//! banner `raw REPL; CTRL-B to exit\r\n>`, send the script and Ctrl-D, wait for `OK`, then
//! stdout until an EOT (0x04), stderr until a second EOT; after that the raw REPL prompts
//! with `>` again. Optionally Ctrl-B goes back to the friendly REPL.

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptEnd {
    /// It ran to its end.
    Done,
    /// It raised an exception that nothing caught (the traceback was on stderr).
    Exception,
}

/// Where the exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Booting: waiting for the friendly REPL's `>>> ` (shown up to it).
    WaitPrompt,
    /// Sent CR, Ctrl-A: waiting for the raw REPL's banner.
    WaitRaw,
    /// Sent the script and Ctrl-D: waiting for `OK`.
    WaitOk,
    /// The script runs: its output, until the first EOT.
    Stdout,
    /// Its error output, until the second EOT.
    Stderr,
    /// Ended, staying in the raw REPL: waiting for its `>` prompt.
    WaitNext(ScriptEnd),
    /// Ended and back in the raw REPL; [`RawRepl::exec`] sends another script.
    Ready(ScriptEnd),
    /// Ended; sent Ctrl-B: the raw REPL's `>` is dropped, the rest shown as it comes.
    Leaving(ScriptEnd),
    /// Back at the friendly REPL: everything passes through.
    Finished(ScriptEnd),
}

/// What the driver wants done after a feed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Feed {
    /// Everything for a console display, in order (boot messages, the script's output
    /// and error output, the friendly REPL after leaving); protocol bytes left out.
    pub show: Vec<u8>,
    /// The part of `show` that is not the script's: boot messages, the REPLs' own text.
    pub console: Vec<u8>,
    /// What the script wrote to stdout (also in `show`).
    pub stdout: Vec<u8>,
    /// What it wrote to stderr: a traceback (also in `show`).
    pub stderr: Vec<u8>,
    /// Bytes for the board's console input, to send now.
    pub send: Vec<u8>,
}

const PROMPT: &[u8] = b">>> ";
/// The raw REPL's banner after Ctrl-A.
pub const RAW_BANNER: &[u8] = b"raw REPL; CTRL-B to exit\r\n>";
const OK: &[u8] = b"OK";

/// Checks that `script` can go through the raw REPL: no byte below 0x05 (Ctrl-A to
/// Ctrl-D steer the protocol). Err names the first such byte and its offset.
pub fn check_script(script: &[u8]) -> Result<(), String> {
    match script.iter().position(|&b| b <= 0x04) {
        Some(i) => Err(format!(
            "the script holds control byte {:#04x} at offset {i}: a MicroPython script is text",
            script[i]
        )),
        None => Ok(()),
    }
}

/// Drives scripts through the raw REPL.
#[derive(Debug, Clone)]
pub struct RawRepl {
    script: Vec<u8>,
    phase: Phase,
    acc: Vec<u8>,
    /// Go back to the friendly REPL (Ctrl-B) once the script ended.
    leave: bool,
}

fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    if pat.is_empty() || hay.len() < pat.len() {
        return None;
    }
    hay.windows(pat.len()).position(|w| w == pat)
}

impl RawRepl {
    /// Runs `script` from the friendly prompt; with `leave`, goes back to the friendly
    /// REPL afterwards (Ctrl-B), else stays in the raw REPL for [`RawRepl::exec`].
    pub fn new(script: &[u8], leave: bool) -> RawRepl {
        RawRepl {
            script: script.to_vec(),
            phase: Phase::WaitPrompt,
            acc: Vec::new(),
            leave,
        }
    }

    /// A driver for a board already in its raw REPL (its `>` seen): scripts go with
    /// [`RawRepl::exec`].
    pub fn in_raw_repl() -> RawRepl {
        RawRepl {
            script: Vec::new(),
            phase: Phase::Ready(ScriptEnd::Done),
            acc: Vec::new(),
            leave: false,
        }
    }

    /// Starts over (after a board reset).
    pub fn restart(&mut self) {
        self.phase = Phase::WaitPrompt;
        self.acc.clear();
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How the script ended, once it has.
    pub fn end(&self) -> Option<ScriptEnd> {
        match self.phase {
            Phase::WaitNext(e) | Phase::Ready(e) | Phase::Leaving(e) | Phase::Finished(e) => {
                Some(e)
            }
            _ => None,
        }
    }

    /// In the raw REPL after a script ([`Phase::Ready`]): the bytes that run `script`
    /// next (send them). None in any other phase.
    pub fn exec(&mut self, script: &[u8]) -> Option<Vec<u8>> {
        if !matches!(self.phase, Phase::Ready(_)) {
            return None;
        }
        self.phase = Phase::WaitOk;
        let mut send = script.to_vec();
        send.push(0x04);
        Some(send)
    }

    /// Takes console output; says what to show, what the script printed, what to send.
    pub fn feed(&mut self, out: &[u8]) -> Feed {
        let mut f = Feed::default();
        self.acc.extend_from_slice(out);
        loop {
            match self.phase {
                Phase::WaitPrompt => match find(&self.acc, PROMPT) {
                    Some(i) => {
                        // The prompt itself is not shown: the script's output follows.
                        let text: Vec<u8> = self.acc.drain(..i).collect();
                        f.show.extend_from_slice(&text);
                        f.console.extend_from_slice(&text);
                        self.acc.drain(..PROMPT.len());
                        f.send.extend_from_slice(b"\r\x01");
                        self.phase = Phase::WaitRaw;
                    }
                    None => {
                        // Keep what could be the start of the prompt.
                        let keep = self.acc.len().min(PROMPT.len() - 1);
                        let n = self.acc.len() - keep;
                        let text: Vec<u8> = self.acc.drain(..n).collect();
                        f.show.extend_from_slice(&text);
                        f.console.extend_from_slice(&text);
                        return f;
                    }
                },
                Phase::WaitRaw => match find(&self.acc, RAW_BANNER) {
                    Some(i) => {
                        self.acc.drain(..i + RAW_BANNER.len());
                        f.send.extend_from_slice(&self.script);
                        f.send.push(0x04);
                        self.phase = Phase::WaitOk;
                    }
                    None => return f,
                },
                Phase::WaitOk => match find(&self.acc, OK) {
                    Some(i) => {
                        // The raw REPL answers OK at once; anything before it is the
                        // firmware talking, and belongs to the output.
                        let before: Vec<u8> = self.acc.drain(..i).collect();
                        f.show.extend_from_slice(&before);
                        f.stdout.extend_from_slice(&before);
                        self.acc.drain(..OK.len());
                        self.phase = Phase::Stdout;
                    }
                    None => return f,
                },
                Phase::Stdout => match self.acc.iter().position(|&b| b == 0x04) {
                    Some(i) => {
                        let out: Vec<u8> = self.acc.drain(..i).collect();
                        f.show.extend_from_slice(&out);
                        f.stdout.extend_from_slice(&out);
                        self.acc.drain(..1);
                        self.phase = Phase::Stderr;
                    }
                    None => {
                        f.show.extend_from_slice(&self.acc);
                        f.stdout.append(&mut self.acc);
                        return f;
                    }
                },
                Phase::Stderr => match self.acc.iter().position(|&b| b == 0x04) {
                    Some(i) => {
                        let end = if i == 0 {
                            ScriptEnd::Done
                        } else {
                            ScriptEnd::Exception
                        };
                        let err: Vec<u8> = self.acc.drain(..i).collect();
                        f.show.extend_from_slice(&err);
                        f.stderr.extend_from_slice(&err);
                        self.acc.drain(..1);
                        if self.leave {
                            f.send.push(0x02);
                            self.phase = Phase::Leaving(end);
                        } else {
                            self.phase = Phase::WaitNext(end);
                        }
                    }
                    None => return f,
                },
                Phase::WaitNext(end) => {
                    if self.acc.is_empty() {
                        return f;
                    }
                    if self.acc[0] == b'>' {
                        self.acc.drain(..1);
                        self.phase = Phase::Ready(end);
                    } else {
                        // Not the raw REPL's prompt: show it and keep waiting.
                        let b = self.acc.remove(0);
                        f.show.push(b);
                        f.console.push(b);
                    }
                }
                Phase::Ready(_) | Phase::Finished(_) => {
                    f.show.extend_from_slice(&self.acc);
                    f.console.append(&mut self.acc);
                    return f;
                }
                Phase::Leaving(end) => {
                    if self.acc.is_empty() {
                        return f;
                    }
                    if self.acc[0] == b'>' {
                        self.acc.drain(..1);
                    }
                    self.phase = Phase::Finished(end);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_runs_and_leaves_for_the_friendly_repl() {
        let mut d = RawRepl::new(b"print(1)", true);
        // What could be the start of the prompt waits for the next bytes.
        let f = d.feed(b"MicroPython v1.25\r\n>>");
        assert_eq!(f.show, b"MicroPython v1.25\r");
        assert!(f.send.is_empty());
        let f = d.feed(b"> ");
        assert_eq!(
            (f.show.as_slice(), f.console.as_slice()),
            (&b"\n"[..], &b"\n"[..])
        );
        assert_eq!(f.send, b"\r\x01");
        assert_eq!(d.phase(), Phase::WaitRaw);
        let f = d.feed(b"\r\nraw REPL; CTRL-B to exit\r\n>");
        assert_eq!(f.send, b"print(1)\x04");
        let f = d.feed(b"OK1\r\n");
        assert_eq!(
            (f.stdout.as_slice(), f.show.as_slice()),
            (&b"1\r\n"[..], &b"1\r\n"[..])
        );
        let f = d.feed(b"\x04\x04>");
        assert_eq!(f.send, b"\x02");
        assert_eq!(d.end(), Some(ScriptEnd::Done));
        let f = d.feed(b"\r\n>>> ");
        assert_eq!(f.show, b"\r\n>>> ");
        assert_eq!(d.phase(), Phase::Finished(ScriptEnd::Done));
    }

    #[test]
    fn everything_in_one_chunk_then_a_restart() {
        let mut d = RawRepl::new(b"1/0", true);
        let f = d.feed(b">>> ");
        assert_eq!(f.send, b"\r\x01");
        let f = d.feed(b"\r\n>>> \r\nraw REPL; CTRL-B to exit\r\n>OK\x04Traceback\r\n\x04>");
        assert_eq!(f.show, b"Traceback\r\n");
        assert_eq!(f.send, b"1/0\x04\x02");
        assert_eq!(d.end(), Some(ScriptEnd::Exception));
        d.restart();
        assert_eq!(d.phase(), Phase::WaitPrompt);
        assert_eq!(d.end(), None);
    }

    #[test]
    fn a_traceback_is_stderr_and_the_raw_repl_takes_the_next_script() {
        let mut d = RawRepl::new(b"1/0", false);
        d.feed(b">>> ");
        d.feed(RAW_BANNER);
        let f = d.feed(b"OK\x04Traceback...\r\n\x04>");
        assert_eq!(f.stderr, b"Traceback...\r\n");
        assert!(f.stdout.is_empty());
        assert_eq!(d.phase(), Phase::Ready(ScriptEnd::Exception));
        assert_eq!(d.exec(b"x"), Some(b"x\x04".to_vec()));
        let f = d.feed(b"OK2\r\n\x04\x04>");
        assert_eq!(f.stdout, b"2\r\n");
        assert_eq!(d.end(), Some(ScriptEnd::Done));
        assert_eq!(d.phase(), Phase::Ready(ScriptEnd::Done));
    }

    #[test]
    fn text_before_ok_is_output_and_control_bytes_are_refused() {
        let mut d = RawRepl::in_raw_repl();
        let send = d.exec(b"pass").unwrap();
        assert_eq!(send, b"pass\x04");
        let f = d.feed(b"boot noise OK");
        assert_eq!(f.stdout, b"boot noise ");
        assert_eq!(d.phase(), Phase::Stdout);
        assert_eq!(d.exec(b"again"), None, "only between scripts");
        assert!(check_script(b"print('ok')\n").is_ok());
        let e = check_script(b"ab\x03c").unwrap_err();
        assert!(e.contains("0x03 at offset 2"), "{e}");
    }
}
