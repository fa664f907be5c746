//! What an interrupted run leaves behind: nothing of its own. Temporary
//! outputs (`.NAME.tmp-PID`, `.db.tmp-PID`), the claim on `--out` and an
//! `--out` directory the run created are registered here while they exist;
//! SIGINT, SIGTERM or SIGHUP removes them before the process exits with
//! 128 + the signal's number, as a shell reports a killed command. Final
//! names are never touched: a file under its final name is complete.
//!
//! The signals are blocked in every thread (the mask is set before any
//! thread is started and inherited by all of them) and taken by one thread
//! of our own with `sigwait`, so the cleanup runs as ordinary code, not in
//! a signal handler.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Paths to remove if the run is interrupted: files, directories (removed
/// with what is in them) and directories removed only when empty.
#[derive(Default)]
struct Pending {
    files: Vec<PathBuf>,
    trees: Vec<PathBuf>,
    if_empty: Vec<PathBuf>,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    files: Vec::new(),
    trees: Vec::new(),
    if_empty: Vec::new(),
});

fn with<R>(f: impl FnOnce(&mut Pending) -> R) -> R {
    let mut g = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut g)
}

/// A temporary file that an interruption must remove: registered before
/// it is created, so that no interruption falls between the two.
pub fn file(p: &Path) {
    with(|g| g.files.push(p.to_path_buf()));
}

/// A temporary directory (with its contents) that an interruption must remove.
pub fn tree(p: &Path) {
    with(|g| g.trees.push(p.to_path_buf()));
}

/// A directory this run created, removed on interruption if it is empty.
pub fn dir_if_empty(p: &Path) {
    with(|g| g.if_empty.push(p.to_path_buf()));
}

/// The path no longer needs removing (committed, or already removed).
pub fn done(p: &Path) {
    with(|g| {
        g.files.retain(|q| q != p);
        g.trees.retain(|q| q != p);
        g.if_empty.retain(|q| q != p);
    });
}

/// Remove everything registered and end the process, holding the registry
/// throughout: a thread about to create a temporary registers it first, so
/// it waits here and never creates it.
fn remove_all_and_exit(code: i32) -> ! {
    let g = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    for f in &g.files {
        let _ = std::fs::remove_file(f);
    }
    for t in &g.trees {
        // A writer may still be adding a file to the tree while it is
        // removed; once the directory is gone nothing can be added to it.
        for _ in 0..100 {
            match std::fs::remove_dir_all(t) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                _ => break,
            }
        }
    }
    // Deepest first: a directory we made inside another one we made.
    for d in g.if_empty.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    std::process::exit(code)
}

/// Take SIGINT, SIGTERM and SIGHUP on a thread of our own from now on.
/// Call before any other thread is started (the rayon pool, writers): only
/// threads started after it inherit the blocked mask.
pub fn install() {
    #[cfg(unix)]
    // SAFETY: sigset_t is plain data initialised by sigemptyset before use;
    // pthread_sigmask and sigwait are called with valid pointers to it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        let waiting = set;
        let spawned = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut sig: libc::c_int = 0;
                if libc::sigwait(&waiting, &mut sig) == 0 {
                    remove_all_and_exit(128 + sig);
                }
            });
        if spawned.is_err() {
            // Nobody would take the signals: let them act as before.
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}
