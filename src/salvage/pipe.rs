//! stdout as a destination that its reader may close (`| head -1`).
//!
//! A reader that has seen enough is not a failure of the run: what it did
//! not read is dropped, the run goes on to its end (the exit status and any
//! `--report FILE` describe the whole store), and the report says the
//! export stopped early.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write to stdout found its reader gone.
pub fn stdout_closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// A closed pipe becomes a note instead of an error.
pub fn closed_is_fine(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        r => r,
    }
}

/// stdout, written until its reader leaves and then not at all.
pub struct PipeOut(io::Stdout);

impl PipeOut {
    pub fn new() -> Self {
        PipeOut(io::stdout())
    }

    pub fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        if stdout_closed() {
            return Ok(());
        }
        closed_is_fine(self.0.write_all(b))
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if stdout_closed() {
            return Ok(());
        }
        closed_is_fine(self.0.flush())
    }
}

impl Default for PipeOut {
    fn default() -> Self {
        Self::new()
    }
}
