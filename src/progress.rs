//! Progress on stderr for long runs: bytes done of total, rate, ETA and the
//! current file. Drawn only when stderr is a terminal and `--quiet` is off,
//! so logs and CI get nothing but the program's own lines.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// What the scanning code reports as it goes.
pub trait Progress: Sync {
    /// A file is starting.
    fn file(&self, _name: &str) {}
    /// A file of `size` bytes is starting; [`Progress::file_done`] follows.
    fn file_started(&self, name: &str, _size: u64) {
        self.file(name);
    }
    /// A file started with [`Progress::file_started`] is done.
    fn file_done(&self, _name: &str) {}
    /// `n` more bytes were read.
    fn bytes(&self, _n: u64) {}
}

/// A file being read, from [`InFlight::start`] until dropped: every way out
/// of a scan says it is done.
pub struct InFlight<'a> {
    progress: &'a dyn Progress,
    name: &'a str,
}

impl<'a> InFlight<'a> {
    pub fn start(progress: &'a dyn Progress, name: &'a str, size: u64) -> Self {
        progress.file_started(name, size);
        InFlight { progress, name }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.progress.file_done(self.name);
    }
}

/// The files being read at once (`scan` reads them side by side) and the
/// label that names them: the one file, or the largest with how many more.
/// A label set by whichever file started last named `CURRENT`, read in a
/// blink, for the whole time the log took.
#[derive(Default)]
pub struct Reading {
    files: Mutex<Vec<(String, u64)>>,
}

impl Reading {
    pub fn start(&self, name: &str, size: u64) -> String {
        let mut f = self.files.lock().unwrap_or_else(|e| e.into_inner());
        f.push((name.to_string(), size));
        label(&f)
    }

    pub fn done(&self, name: &str) -> String {
        let mut f = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = f.iter().position(|(n, _)| n == name) {
            f.remove(i);
        }
        label(&f)
    }
}

fn label(files: &[(String, u64)]) -> String {
    // The first of the largest: a stable label while sizes tie.
    let Some((name, _)) = files.iter().rev().max_by_key(|(_, size)| *size) else {
        return String::new();
    };
    match files.len() {
        1 => name.clone(),
        n => format!("{name} (+{} more)", n - 1),
    }
}

/// Reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// An indicatif bar, or nothing when stderr is not a terminal.
pub struct Bar {
    bar: Option<ProgressBar>,
    reading: Reading,
    /// Held from working out a label to showing it: otherwise a file that
    /// started first could show its label last (CURRENT's, over the log's).
    draw: Mutex<()>,
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
        Bar {
            bar,
            reading: Reading::default(),
            draw: Mutex::new(()),
        }
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
            b.set_message(crate::vocab::text::printable(name).into_owned());
        }
    }

    fn file_started(&self, name: &str, size: u64) {
        let _draw = self.draw.lock().unwrap_or_else(|e| e.into_inner());
        let label = self.reading.start(name, size);
        self.file(&label);
    }

    fn file_done(&self, name: &str) {
        let _draw = self.draw.lock().unwrap_or_else(|e| e.into_inner());
        let label = self.reading.done(name);
        self.file(&label);
    }

    fn bytes(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scan` starts the log, then CURRENT (done at once): the label is the
    /// log's all along, not CURRENT's.
    #[test]
    fn the_label_names_a_file_being_read() {
        let r = Reading::default();
        assert_eq!(r.start("000003.log", 100_000), "000003.log");
        assert_eq!(r.start("CURRENT", 16), "000003.log (+1 more)");
        assert_eq!(r.done("CURRENT"), "000003.log");
        assert_eq!(r.start("000005.ldb", 2_000_000), "000005.ldb (+1 more)");
        assert_eq!(r.done("000005.ldb"), "000003.log");
        assert_eq!(r.done("000003.log"), "");
    }

    /// Through the trait, as scan_file_with drives it.
    #[test]
    fn in_flight_files_leave_the_label_when_done() {
        struct Seen(Reading, Mutex<Vec<String>>);
        impl Progress for Seen {
            fn file_started(&self, name: &str, size: u64) {
                let l = self.0.start(name, size);
                self.1.lock().unwrap().push(l);
            }
            fn file_done(&self, name: &str) {
                let l = self.0.done(name);
                self.1.lock().unwrap().push(l);
            }
        }
        let p = Seen(Reading::default(), Mutex::new(Vec::new()));
        let log = InFlight::start(&p, "000003.log", 100_000);
        drop(InFlight::start(&p, "CURRENT", 16));
        drop(log);
        assert_eq!(
            *p.1.lock().unwrap(),
            ["000003.log", "000003.log (+1 more)", "000003.log", ""]
        );
    }
}
