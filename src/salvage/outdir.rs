//! Claiming `--out` for a run: refused inside the input, refused when not
//! empty, created (with its parents, durably) and locked so that no second
//! run writes there at the same time.

use super::export::{io_err, SalvageError};
use crate::scan::store::{self};
use std::io::{self};
use std::path::{Path, PathBuf};

/// A claim on `--out` for the length of a run: an exclusive `flock` on the
/// directory, so that a second run into the same directory is refused
/// instead of mixing its files with ours. The kernel drops the lock when
/// the process ends, however it ends, and no file is created for it.
pub struct OutClaim {
    _lock: std::fs::File,
    /// Directories this run created, outermost first.
    created: Vec<PathBuf>,
}

impl OutClaim {
    /// The run failed before it wrote anything: remove the directories it
    /// created (only those still empty), so a retry can use the same path.
    pub fn abandon(self) {
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
            super::cleanup::done(d);
        }
    }

    /// The run wrote its outputs: its directories stay.
    pub fn keep(self) {
        for d in &self.created {
            super::cleanup::done(d);
        }
    }
}

pub(super) fn lock_dir(out: &Path) -> Result<std::fs::File, SalvageError> {
    let dir = std::fs::File::open(out).map_err(io_err(format!("--out {}", out.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = io::Error::last_os_error();
            return Err(if e.kind() == io::ErrorKind::WouldBlock {
                SalvageError::Out(format!(
                    "--out {} is being written by another ldbsalvage run",
                    out.display()
                ))
            } else {
                SalvageError::Io(format!("locking --out {}", out.display()), e)
            });
        }
    }
    Ok(dir)
}

/// Refuse an output directory inside the input, or one that already holds
/// something, or one another run is writing; create and claim it otherwise.
/// Runs before anything is written.
pub fn prepare_out_dir(out: &Path, input: &Path) -> Result<OutClaim, SalvageError> {
    let dir = store::evidence_dir(input);
    if store::is_inside(out, &dir) {
        return Err(SalvageError::Out(format!(
            "--out {} lies inside the input's directory {}: the input is evidence and is never written to",
            out.display(),
            dir.display()
        )));
    }
    let mut created = Vec::new();
    if let Err(e) = std::fs::read_dir(out) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(SalvageError::Io(format!("--out {}", out.display()), e));
        }
        // The directories about to be created, deepest first: each one's
        // entry in its parent must be durable too, or a crash after we
        // exit could lose OUT with everything in it.
        let mut missing = Vec::new();
        let mut p = Some(out);
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            missing.push(d.to_path_buf());
            p = d.parent();
        }
        missing.reverse();
        for d in &missing {
            super::cleanup::dir_if_empty(d);
            match std::fs::create_dir(d) {
                Ok(()) => created.push(d.clone()),
                // Another run made it first: the lock below decides.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => super::cleanup::done(d),
                Err(e) => {
                    super::cleanup::done(d);
                    return Err(SalvageError::Io(format!("creating {}", d.display()), e));
                }
            }
            let parent = match d.parent() {
                Some(q) if !q.as_os_str().is_empty() => q,
                _ => Path::new("."),
            };
            super::durable::sync_dir(parent)
                .map_err(io_err(format!("syncing {}", parent.display())))?;
        }
    }
    let claim = OutClaim {
        _lock: lock_dir(out)?,
        created,
    };
    // Checked under the lock: a run that held it before us may have filled
    // the directory.
    let empty = std::fs::read_dir(out)
        .map_err(io_err(format!("--out {}", out.display())))?
        .next()
        .is_none();
    if !empty {
        claim.abandon();
        return Err(SalvageError::Out(format!(
            "--out {} exists and is not empty",
            out.display()
        )));
    }
    Ok(claim)
}
