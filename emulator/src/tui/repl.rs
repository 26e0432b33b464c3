//! A script run through the raw REPL, a slice at a time: the non-blocking twin of
//! [`Session::run_script`](crate::session::Session::run_script). The driver is fed
//! the console output after each slice and answers with what to show in the console
//! pane and what to send to the board before the next slice.

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptEnd {
    /// It ran to its end.
    Done,
    /// It raised an exception that nothing caught (the traceback was shown).
    Exception,
}

/// Where the protocol stands.
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
    /// Ended; sent Ctrl-B: the raw REPL's `>` is dropped, the rest shown as it comes.
    Leaving(ScriptEnd),
    /// Back at the friendly REPL: everything passes through.
    Finished(ScriptEnd),
}

/// What the driver wants done after a feed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Feed {
    /// Bytes for the console pane.
    pub show: Vec<u8>,
    /// Bytes for the board's console input.
    pub send: Vec<u8>,
}

const PROMPT: &[u8] = b">>> ";
const RAW_BANNER: &[u8] = b"raw REPL; CTRL-B to exit\r\n>";
const OK: &[u8] = b"OK";

/// Drives one script through the raw REPL.
#[derive(Debug, Clone)]
pub struct ScriptDriver {
    script: Vec<u8>,
    phase: Phase,
    acc: Vec<u8>,
}

fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    if pat.is_empty() || hay.len() < pat.len() {
        return None;
    }
    hay.windows(pat.len()).position(|w| w == pat)
}

impl ScriptDriver {
    pub fn new(script: &[u8]) -> ScriptDriver {
        ScriptDriver {
            script: script.to_vec(),
            phase: Phase::WaitPrompt,
            acc: Vec::new(),
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
            Phase::Leaving(e) | Phase::Finished(e) => Some(e),
            _ => None,
        }
    }

    /// Takes console output; says what to show and what to send.
    pub fn feed(&mut self, out: &[u8]) -> Feed {
        let mut f = Feed::default();
        self.acc.extend_from_slice(out);
        loop {
            match self.phase {
                Phase::WaitPrompt => match find(&self.acc, PROMPT) {
                    Some(i) => {
                        // The prompt itself is not shown: the script's output follows.
                        f.show.extend(self.acc.drain(..i));
                        self.acc.drain(..PROMPT.len());
                        f.send.extend_from_slice(b"\r\x01");
                        self.phase = Phase::WaitRaw;
                    }
                    None => {
                        // Keep what could be the start of the prompt.
                        let keep = self.acc.len().min(PROMPT.len() - 1);
                        let n = self.acc.len() - keep;
                        f.show.extend(self.acc.drain(..n));
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
                        self.acc.drain(..i + OK.len());
                        self.phase = Phase::Stdout;
                    }
                    None => return f,
                },
                Phase::Stdout => match self.acc.iter().position(|&b| b == 0x04) {
                    Some(i) => {
                        f.show.extend(self.acc.drain(..i));
                        self.acc.drain(..1);
                        self.phase = Phase::Stderr;
                    }
                    None => {
                        f.show.append(&mut self.acc);
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
                        f.show.extend(self.acc.drain(..i));
                        self.acc.drain(..1);
                        f.send.push(0x02);
                        self.phase = Phase::Leaving(end);
                    }
                    None => return f,
                },
                Phase::Leaving(end) => {
                    if self.acc.is_empty() {
                        return f;
                    }
                    if self.acc[0] == b'>' {
                        self.acc.drain(..1);
                    }
                    self.phase = Phase::Finished(end);
                }
                Phase::Finished(_) => {
                    f.show.append(&mut self.acc);
                    return f;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_that_ends_normally() {
        let mut d = ScriptDriver::new(b"print(1)");
        let f = d.feed(b"MicroPython\r\n>");
        // What could be the start of the prompt waits for the next bytes.
        assert_eq!(f.show, b"MicroPython");
        assert!(f.send.is_empty());
        let f = d.feed(b">> ");
        assert_eq!(f.show, b"\r\n");
        assert_eq!(f.send, b"\r\x01");
        let f = d.feed(b"\r\n>>> \r\nraw REPL; CTRL-B to exit\r\n>");
        assert!(f.show.is_empty());
        assert_eq!(f.send, b"print(1)\x04");
        let f = d.feed(b"OK1\r\n");
        assert_eq!(f.show, b"1\r\n");
        assert_eq!(d.phase(), Phase::Stdout);
        let f = d.feed(b"\x04\x04>");
        assert!(f.show.is_empty());
        assert_eq!(f.send, b"\x02");
        assert_eq!(d.end(), Some(ScriptEnd::Done));
        let f = d.feed(b"\r\nMicroPython\r\n>>> ");
        assert_eq!(f.show, b"\r\nMicroPython\r\n>>> ");
        assert_eq!(d.phase(), Phase::Finished(ScriptEnd::Done));
    }

    #[test]
    fn an_exception_and_everything_in_one_chunk() {
        let mut d = ScriptDriver::new(b"1/0");
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
}
