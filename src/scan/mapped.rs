//! Read-only mappings of file windows that survive the file shrinking.
//!
//! Reading through a mapping saves the copy out of the page cache that
//! `pread` makes (a third of a log scan's time). Its danger: touching a page
//! past a file that was truncated after it was mapped raises SIGBUS, which
//! kills the process. So every window is registered while it is mapped, and
//! a SIGBUS handler that finds the faulting address inside a registered
//! window maps a page of zeros over it, marks the window faulted and lets
//! the read go on. The reader then treats a faulted window as a file that
//! changed under it and reads it again with `pread`. A SIGBUS anywhere else
//! goes to the handler that was there before (Rust's own, or the default).
//!
//! Only `scan` reads this way: it keeps counts, never bytes. Anything that
//! exports bytes reads with `pread`, so a truncation racing with the read
//! can never put zeros into an export as if they had been verified. (As with
//! any mapping, bytes another process writes into the file show through
//! while it is mapped; every byte scan looks at is checksummed, and the
//! evidence is quarantined, so at worst a count describes the newer bytes.)

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// Windows that can be mapped at once; more fall back to `pread`. Each scan
/// thread holds at most two (the window being joined and the next).
const SLOTS: usize = 64;

struct Slot {
    used: AtomicBool,
    start: AtomicUsize,
    end: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // only to build the array
const FREE: Slot = Slot {
    used: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

static REGISTRY: [Slot; SLOTS] = [FREE; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The SIGBUS action before ours; written once, before ours is installed.
static mut PREVIOUS: Option<libc::sigaction> = None;

/// A mapped window of a file. Dropping it unregisters and unmaps it.
pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
    slot: usize,
}

// The mapping is read-only and owned by this value alone.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Map `len` bytes of `file` at `offset` (a multiple of the page size).
    /// `None` when mapping is not possible here (no free slot, no handler,
    /// an offset that is not page-aligned, or mmap refused): read instead.
    pub fn map(file: &File, offset: u64, len: usize) -> Option<Mapped> {
        install();
        let page = PAGE.load(Ordering::Relaxed);
        if !INSTALLED.load(Ordering::Acquire) || len == 0 || page == 0 {
            return None;
        }
        if offset % page as u64 != 0 {
            return None;
        }
        let off = libc::off_t::try_from(offset).ok()?;
        let slot = REGISTRY.iter().position(|s| {
            s.used
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: a fresh private read-only mapping of a file we hold open;
        // no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                off,
            )
        };
        let s = &REGISTRY[slot];
        if ptr == libc::MAP_FAILED {
            s.used.store(false, Ordering::Release);
            return None;
        }
        s.faulted.store(false, Ordering::Relaxed);
        s.end.store(ptr as usize + len, Ordering::Relaxed);
        s.start.store(ptr as usize, Ordering::Release);
        Some(Mapped { ptr, len, slot })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes mapped readable for as long as `self` lives;
        // pages past the file's end are replaced by zeros (see the module).
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }

    /// Whether a page of this window vanished (the file shrank) and was
    /// read as zeros.
    pub fn faulted(&self) -> bool {
        REGISTRY[self.slot].faulted.load(Ordering::Acquire)
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        let s = &REGISTRY[self.slot];
        s.start.store(0, Ordering::Release);
        s.end.store(0, Ordering::Release);
        // SAFETY: unmapping exactly what `map` mapped; no borrow of it can
        // outlive `self`.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
        s.used.store(false, Ordering::Release);
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: plain libc calls; PREVIOUS is written here only, before
        // the handler that reads it exists.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page <= 0 {
                return;
            }
            PAGE.store(page as usize, Ordering::Relaxed);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                return;
            }
            PREVIOUS = Some(old);
            let mut new: libc::sigaction = std::mem::zeroed();
            let handler: Handler = on_sigbus;
            new.sa_sigaction = handler as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            if libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut()) == 0 {
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
}

type Handler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    // Only atomics and mmap(2) are used before chaining.
    unsafe {
        let addr = (*info).si_addr() as usize;
        let page = PAGE.load(Ordering::Relaxed);
        for s in REGISTRY.iter() {
            let start = s.start.load(Ordering::Acquire);
            if start == 0 || addr < start || addr >= s.end.load(Ordering::Acquire) {
                continue;
            }
            let at = addr & !(page - 1);
            let zeros = libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            );
            if zeros != libc::MAP_FAILED {
                s.faulted.store(true, Ordering::Release);
                return;
            }
        }
        // Not one of ours: what would have happened without us.
        let previous = std::ptr::addr_of!(PREVIOUS).read();
        match previous {
            Some(old) if old.sa_sigaction == libc::SIG_DFL || old.sa_sigaction == libc::SIG_IGN => {
                // Back to the default, and the faulting access runs again.
                libc::sigaction(libc::SIGBUS, &old, std::ptr::null_mut());
                if old.sa_sigaction == libc::SIG_IGN {
                    let mut dfl: libc::sigaction = std::mem::zeroed();
                    dfl.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
                }
            }
            Some(old) if old.sa_flags & libc::SA_SIGINFO != 0 => {
                let f: Handler = std::mem::transmute(old.sa_sigaction);
                f(sig, info, ctx);
            }
            Some(old) => {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(old.sa_sigaction);
                f(sig);
            }
            None => {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
pub(super) fn page_size() -> std::io::Result<usize> {
    install();
    match PAGE.load(Ordering::Relaxed) {
        0 => Err(std::io::Error::other("page size unknown")),
        p => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_window_whose_file_shrank_reads_zeros_and_says_so() {
        let page = page_size().unwrap();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![0xabu8; 4 * page]).unwrap();
        let m = Mapped::map(&f, 0, 4 * page).expect("mapping works here");
        assert!(m.bytes().iter().all(|&b| b == 0xab));
        assert!(!m.faulted());
        f.set_len(page as u64).unwrap();
        // Pages past the new end raise SIGBUS; the handler turns them into
        // zeros instead of killing the test.
        let b = m.bytes();
        assert!(b[..page].iter().all(|&x| x == 0xab));
        let tail: u64 = b[page..].iter().map(|&x| u64::from(x)).sum();
        assert_eq!(tail, 0);
        assert!(m.faulted());
        drop(m);
        // The slot is free again and a new mapping starts clean.
        f.set_len(2 * page as u64).unwrap();
        let m = Mapped::map(&f, 0, 2 * page).unwrap();
        assert!(!m.faulted());
        assert_eq!(m.bytes()[0], 0xab);
    }

    #[test]
    fn unaligned_or_empty_windows_are_refused() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(8192).unwrap();
        assert!(Mapped::map(&f, 1, 100).is_none());
        assert!(Mapped::map(&f, 0, 0).is_none());
    }
}
