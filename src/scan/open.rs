//! The one way a store file is opened.
//!
//! A directory listing cannot promise what a later `open` finds: an entry can
//! be swapped for a FIFO or a link in between, and a plain `open` would then
//! block on the FIFO (no writer ever comes) or read through the link. So the
//! open itself refuses to block or follow, and what it got is judged from the
//! descriptor, not from the name.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Open `path` read-only as a regular file, without following a link in its
/// last component and without blocking; anything else is an error whose
/// message says what was found instead.
pub fn open_store_file(path: &Path) -> io::Result<(File, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            // O_NOFOLLOW reports a link as ELOOP, which would read as "too
            // many levels of symbolic links": say what it is.
            if e.raw_os_error() == Some(libc::ELOOP)
                && path.symlink_metadata().is_ok_and(|m| m.is_symlink())
            {
                refused("a symbolic link")
            } else {
                e
            }
        })?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(refused(type_name(&md.file_type())));
    }
    // Reads of a regular file never block anyway; clearing the flag keeps
    // the descriptor ordinary for whoever reads it next.
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function owns, with integer arguments.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok((file, md))
}

/// Ask the kernel to start reading `len` bytes of `file` at `offset` into
/// the page cache now, without waiting for them: a scan on a cold cache
/// then finds the next window or table already read while it decodes this
/// one, instead of waiting for the disk and the CPU in turn. Only a hint:
/// nothing is read into this process, and errors are ignored.
pub fn prefetch(file: &File, offset: u64, len: u64) {
    let (Ok(off), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise on a descriptor `file` owns, integer arguments;
    // it changes no memory of this process.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), off, n, libc::POSIX_FADV_WILLNEED);
    }
}

/// Whether the page holding `offset` of `file` is in the page cache, asked
/// by a one-byte read that may not wait for the disk (`RWF_NOWAIT`): one
/// system call, where a hint for a window already cached walks every page
/// of it. `true` when the kernel cannot tell, so that a caller that hints
/// only cold windows hints nothing it was not hinting before. Like any
/// read, a miss starts the kernel's read-ahead from that page; the caller
/// hints the window next anyway.
pub fn resident(file: &File, offset: u64) -> bool {
    let Ok(off) = libc::off_t::try_from(offset) else {
        return true;
    };
    let mut byte = 0u8;
    let iov = libc::iovec {
        iov_base: std::ptr::addr_of_mut!(byte).cast(),
        iov_len: 1,
    };
    // SAFETY: reads at most one byte into `byte`, which outlives the call,
    // from a descriptor `file` owns.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, off, libc::RWF_NOWAIT) };
    !(n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN))
}

/// [`prefetch`] a whole store file by path (a table about to be scanned).
pub fn prefetch_path(path: &Path, len: u64) {
    if let Ok((file, _)) = open_store_file(path) {
        prefetch(&file, 0, len);
    }
}

fn refused(what: &str) -> io::Error {
    io::Error::other(format!(
        "{what}, not a regular file (links are not followed)"
    ))
}

/// What a non-regular file is, in words.
pub fn type_name(t: &std::fs::FileType) -> &'static str {
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "of an unknown type"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn mkfifo(p: &Path) -> bool {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) == 0 }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("MANIFEST-000009");
        assert!(mkfifo(&fifo));
        let t0 = Instant::now();
        let e = open_store_file(&fifo).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert_eq!(
            e.to_string(),
            "a FIFO, not a regular file (links are not followed)"
        );
    }

    #[test]
    fn a_link_to_a_regular_file_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real.ldb");
        std::fs::write(&real, b"bytes").unwrap();
        let link = tmp.path().join("000005.ldb");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = open_store_file(&link).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("a symbolic link, not a regular file"));
        let (f, md) = open_store_file(&real).unwrap();
        assert_eq!(md.len(), 5);
        // SAFETY: F_GETFL on an open descriptor.
        let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn a_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let e = open_store_file(tmp.path()).unwrap_err();
        assert!(e.to_string().starts_with("a directory, not"));
    }

    /// The page cache's own answer for each page of `f`, by `mincore`.
    fn in_core(f: &File, len: usize) -> Vec<bool> {
        // SAFETY: a read-only mapping of a file only this test writes, and
        // it does not while the mapping lives.
        let m = unsafe { memmap2::Mmap::map(f) }.unwrap();
        let page = super::super::mapped::page_size().unwrap();
        let mut v = vec![0u8; len.div_ceil(page)];
        // SAFETY: `m` maps `len` bytes; `v` has a byte per page of them.
        let r = unsafe { libc::mincore(m.as_ptr() as *mut _, len, v.as_mut_ptr()) };
        assert_eq!(r, 0);
        v.iter().map(|b| b & 1 == 1).collect()
    }

    #[test]
    fn residency_agrees_with_the_page_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("000007.log");
        let page = super::super::mapped::page_size().unwrap();
        let pages = 1024;
        let len = pages * page;
        std::fs::write(&path, vec![7u8; len]).unwrap();
        let (f, _) = open_store_file(&path).unwrap();
        f.sync_all().unwrap();
        // SAFETY: advice on a descriptor this test owns.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        // Bring back a few pages at the start (the kernel reads ahead of
        // them, a few hundred KiB at most): the cache then holds some pages
        // and not others.
        let mut b = [0u8; 1];
        for p in (0..32u64).step_by(2) {
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, p * page as u64).unwrap();
        }
        // Let the read-ahead those reads started finish, so that nothing
        // but `resident` itself changes the cache from here on.
        let mut core = in_core(&f, len);
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            let again = in_core(&f, len);
            if again == core {
                break;
            }
            core = again;
        }
        assert!(core.contains(&true) && core.contains(&false), "{core:?}");
        // Asked from the last page back: a miss starts the kernel's
        // read-ahead of the pages after it, which have been asked already.
        let mut asked: Vec<bool> = (0..pages as u64)
            .rev()
            .map(|p| resident(&f, p * page as u64))
            .collect();
        asked.reverse();
        assert_eq!(asked, core);
        // Past the end there is nothing to read ahead.
        assert!(resident(&f, (len + page) as u64));
    }
}
