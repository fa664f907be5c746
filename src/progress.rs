//! Progress on stderr for long runs: bytes done of total, rate, ETA and the
//! current file. Drawn only when stderr is a terminal and `--quiet` is off,
//! so logs and CI get nothing but the program's own lines.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// What the scanning code reports as it goes.
pub trait Progress: Sync {
    /// A file is starting.
    fn file(&self, _name: &str) {}
    /// `n` more bytes were read.
    fn bytes(&self, _n: u64) {}
}

/// Reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// An indicatif bar, or nothing when stderr is not a terminal.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(total: u64, quiet: bool) -> Self {
        let show = !quiet && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        Bar { bar }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn file(&self, name: &str) {
        if let Some(b) = &self.bar {
            b.set_message(name.to_string());
        }
    }

    fn bytes(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
}
