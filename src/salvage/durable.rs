//! Output that survives a crash of ours: write under a temporary name, fsync,
//! rename into place, fsync the directory. A file that has its final name is
//! complete. A file dropped without being committed (an error on the way)
//! takes its temporary name with it, so a failed run leaves no hidden files
//! that would make a retry into the same directory refuse it as not empty.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary name a file is written under before it is renamed.
pub fn temp_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// fsync a directory so that renames in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A file being written durably; [`DurableFile::commit`] puts it in place.
pub struct DurableFile {
    tmp: PathBuf,
    dest: PathBuf,
    /// Taken by `commit`.
    out: Option<Pieces>,
    /// Renamed into place: the temporary name no longer exists.
    committed: bool,
}

/// The size of a piece handed to the kernel in one write.
const PIECE: usize = 4 << 20;

/// What `O_DIRECT` asks of a write's address, length and offset: the
/// logical block size, 4096 at most on the disks we meet.
const ALIGN: usize = 4096;

/// A file written in pieces of [`PIECE`] bytes at known offsets, straight
/// to the disk (`O_DIRECT`) where the file system takes that.
///
/// Why not through the page cache: an export of hundreds of megabytes
/// written there is copied into fresh page-cache pages, then written back
/// by the kernel's flushers, and the final fsync waits for whatever they
/// have not reached. On the benchmark's VM that took 0.33–1.5 s for 533 MB
/// where the same bytes written with `O_DIRECT` took 0.27–0.54 s, and a
/// salvage spent its last 0.3–0.4 s asleep in that fsync (docs/PERFORMANCE.md).
/// Where `O_DIRECT` is refused (at open or at the first write) the pieces
/// go through the page cache instead, each one's writeback started as it
/// is written, as RocksDB's `bytes_per_sync` does.
struct Pieces {
    file: File,
    /// Backing storage for the piece being filled, which starts at `start`
    /// (aligned to [`ALIGN`]) and holds `len` bytes.
    buf: Vec<u8>,
    start: usize,
    len: usize,
    /// Where the piece goes in the file.
    at: u64,
    /// Written with `O_DIRECT`.
    direct: bool,
}

impl Pieces {
    fn open(path: &Path) -> io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut direct = opts.clone();
            direct.custom_flags(libc::O_DIRECT);
            if let Ok(file) = direct.open(path) {
                return Ok(Pieces::new(file, true));
            }
        }
        Ok(Pieces::new(opts.open(path)?, false))
    }

    fn new(file: File, direct: bool) -> Self {
        // Zeroed pages cost nothing until touched: a small file touches one.
        let buf = vec![0u8; PIECE + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        Pieces {
            file,
            buf,
            start,
            len: 0,
            at: 0,
            direct,
        }
    }

    fn write_all(&mut self, mut b: &[u8]) -> io::Result<()> {
        while !b.is_empty() {
            let piece = &mut self.buf[self.start..self.start + PIECE];
            let n = (PIECE - self.len).min(b.len());
            let (now, rest) = b.split_at(n);
            piece[self.len..self.len + n].copy_from_slice(now);
            self.len += n;
            b = rest;
            if self.len == PIECE {
                self.put(PIECE)?;
                self.at += PIECE as u64;
                self.len = 0;
            }
        }
        Ok(())
    }

    /// Write the first `n` bytes of the piece at `at`; `n` is a multiple of
    /// [`ALIGN`] unless the file is written through the page cache.
    fn put(&mut self, n: usize) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let bytes = &self.buf[self.start..self.start + n];
        match self.file.write_all_at(bytes, self.at) {
            Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                // The file system opened the file for direct writes but
                // will not take them (its alignment is stricter, or it
                // only pretends): the page cache, from this piece on. A
                // direct write either wrote whole blocks or nothing, and
                // this piece is written again at the same offset.
                go_buffered(&self.file)?;
                self.direct = false;
                self.file.write_all_at(bytes, self.at)?;
            }
            r => r?,
        }
        if !self.direct {
            start_writeback(&self.file, self.at, n);
        }
        Ok(())
    }

    /// Write what is left and make it durable. A direct write's last piece
    /// is padded to [`ALIGN`] with zeros and the file cut back to its
    /// length.
    fn finish(mut self) -> io::Result<File> {
        if self.len > 0 {
            let exact = self.at + self.len as u64;
            if self.direct {
                let padded = self.len.div_ceil(ALIGN) * ALIGN;
                self.buf[self.start + self.len..self.start + padded].fill(0);
                self.put(padded)?;
                self.file.set_len(exact)?;
            } else {
                self.put(self.len)?;
            }
        }
        self.file.sync_all()?;
        Ok(self.file)
    }
}

/// Clear `O_DIRECT` on `file`: its writes go through the page cache.
fn go_buffered(file: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: plain fcntl calls on a descriptor we own.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}

/// Ask the kernel to start writing out `len` bytes at `from`
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`) without waiting for it.
/// Durability still comes from the final fsync; this only moves the disk's
/// work earlier. Without it nothing reaches the disk until that fsync (the
/// dirty page limits are gigabytes on a large machine).
fn start_writeback(file: &File, from: u64, len: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        if let (Ok(from), Ok(len)) = (libc::off64_t::try_from(from), libc::off64_t::try_from(len)) {
            // SAFETY: a plain syscall on a descriptor we own. Its failure
            // only means the data goes out at the fsync instead.
            unsafe {
                libc::sync_file_range(file.as_raw_fd(), from, len, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, len);
}

impl DurableFile {
    pub fn create(dest: &Path) -> io::Result<Self> {
        let tmp = temp_name(dest);
        super::cleanup::file(&tmp);
        let out = Pieces::open(&tmp).inspect_err(|_| super::cleanup::done(&tmp))?;
        Ok(DurableFile {
            tmp,
            dest: dest.to_path_buf(),
            out: Some(out),
            committed: false,
        })
    }

    pub fn commit(mut self) -> io::Result<()> {
        let out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("file already committed"))?;
        drop(out.finish()?);
        fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        super::cleanup::done(&self.tmp);
        sync_dir(parent(&self.dest))
    }

    fn inner(&mut self) -> io::Result<&mut Pieces> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("file already committed"))
    }
}

impl Drop for DurableFile {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // What is still in the piece is dropped with it, never written to
        // a doomed file.
        drop(self.out.take());
        let _ = fs::remove_file(&self.tmp);
        super::cleanup::done(&self.tmp);
    }
}

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner()?.write_all(buf)?;
        Ok(buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner()?.write_all(buf)
    }
    /// Bytes reach the file a piece at a time, and all of them at
    /// [`DurableFile::commit`]: a partial piece cannot be written directly.
    fn flush(&mut self) -> io::Result<()> {
        self.inner().map(|_| ())
    }
}

/// Write a whole file durably.
///
/// Only a regular file (or a name not yet taken) is replaced by rename: a
/// rename onto `/dev/null`, a FIFO or a terminal would put a regular file
/// where the device node was, breaking the machine for everyone after us
/// (`--report /dev/null` once did exactly that). Those are written through.
/// A symlink is followed, so its target is what gets replaced, not the link.
pub fn write_file(dest: &Path, data: &[u8]) -> io::Result<()> {
    let dest = match fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(dest)?,
        _ => dest.to_path_buf(),
    };
    match fs::metadata(&dest) {
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )),
        Ok(m) if !m.is_file() => {
            let mut f = OpenOptions::new().write(true).open(&dest)?;
            f.write_all(data)?;
            f.flush()
        }
        _ => {
            let mut f = DurableFile::create(&dest)?;
            f.write_all(data)?;
            f.commit()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.txt");
        {
            let mut f = DurableFile::create(&dest).unwrap();
            f.write_all(b"partial").unwrap();
            assert!(temp_name(&dest).exists());
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_fifo_is_written_through_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_file(&fifo, b"report").unwrap();
        assert_eq!(reader.join().unwrap(), b"report");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_symlink_keeps_pointing_at_the_new_contents() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        fs::write(&target, b"old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_file(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_file(dir.path(), b"x").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// Uneven writes adding up to several pieces and a partial one.
    fn pieces_of(f: &mut DurableFile) -> Vec<u8> {
        let mut want = Vec::new();
        let mut i = 0u32;
        while want.len() < 3 * PIECE + 12345 {
            let piece: Vec<u8> = (0..(i % 7919 + 1) * 131).map(|k| (k ^ i) as u8).collect();
            f.write_all(&piece).unwrap();
            want.extend_from_slice(&piece);
            i += 1;
        }
        want
    }

    #[test]
    fn a_file_written_in_pieces_is_whole_to_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("big.jsonl");
        let mut f = DurableFile::create(&dest).unwrap();
        let want = pieces_of(&mut f);
        let out = f.out.as_ref().unwrap();
        assert_eq!(out.at, 3 * PIECE as u64);
        assert_eq!(out.len, want.len() - 3 * PIECE);
        f.commit().unwrap();
        // Not one padding byte past the end of a direct write's last piece.
        assert!(fs::read(&dest).unwrap() == want);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_system_that_refuses_a_direct_write_gets_the_page_cache() {
        // A piece that is not aligned is what a file system with stricter
        // rules than ours refuses: EINVAL, on a file opened O_DIRECT.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("records.jsonl");
        let mut f = DurableFile::create(&dest).unwrap();
        let out = f.out.as_mut().unwrap();
        if !out.direct {
            // This file system takes no direct writes at all: nothing to
            // fall back from. CI's does, so there this test must run.
            assert!(
                std::env::var_os("CI").is_none(),
                "the temp dir's file system refuses O_DIRECT: the fallback went untested"
            );
            return;
        }
        out.start += 1;
        let want = pieces_of(&mut f);
        assert!(!f.out.as_ref().unwrap().direct);
        f.commit().unwrap();
        assert!(fs::read(&dest).unwrap() == want);
    }

    #[test]
    fn a_small_file_is_written_whole_without_padding() {
        for n in [0usize, 1, ALIGN - 1, ALIGN, ALIGN + 1] {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("report.json");
            let want: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            write_file(&dest, &want).unwrap();
            assert_eq!(fs::read(&dest).unwrap(), want, "{n} bytes");
        }
    }

    #[test]
    fn committed_file_is_in_place_alone() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.txt");
        let mut f = DurableFile::create(&dest).unwrap();
        f.write_all(b"whole").unwrap();
        f.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"whole");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
