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
    file: Option<io::BufWriter<File>>,
    /// Renamed into place: the temporary name no longer exists.
    committed: bool,
    /// Bytes handed to the file so far, and how many of them the kernel
    /// was already asked to start writing out.
    written: u64,
    kicked: u64,
}

/// How much is written before the kernel is asked to start writing it out.
/// Without this nothing reaches the disk until the final fsync (the dirty
/// page limits are gigabytes on a large machine), and an export of hundreds
/// of megabytes then waits for all of it at the end instead of going out
/// while the store is still being read.
const WRITEBACK_EVERY: u64 = 8 << 20;

impl DurableFile {
    pub fn create(dest: &Path) -> io::Result<Self> {
        let tmp = temp_name(dest);
        super::cleanup::file(&tmp);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .inspect_err(|_| super::cleanup::done(&tmp))?;
        Ok(DurableFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(io::BufWriter::with_capacity(1 << 20, file)),
            committed: false,
            written: 0,
            kicked: 0,
        })
    }

    /// Start writeback of what was written since the last call, without
    /// waiting for it (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, as RocksDB's
    /// `bytes_per_sync` does). Durability still comes from `commit`'s fsync;
    /// this only moves the disk's work earlier.
    fn start_writeback(&mut self) -> io::Result<()> {
        if self.written - self.kicked < WRITEBACK_EVERY {
            return Ok(());
        }
        let w = self.inner()?;
        w.flush()?;
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::io::AsRawFd;
            let fd = w.get_ref().as_raw_fd();
            let (from, len) = (self.kicked, self.written - self.kicked);
            if let (Ok(from), Ok(len)) =
                (libc::off64_t::try_from(from), libc::off64_t::try_from(len))
            {
                // SAFETY: a plain syscall on a descriptor we own. Its failure
                // only means the data goes out at the fsync instead.
                unsafe {
                    libc::sync_file_range(fd, from, len, libc::SYNC_FILE_RANGE_WRITE);
                }
            }
        }
        self.kicked = self.written;
        Ok(())
    }

    pub fn commit(mut self) -> io::Result<()> {
        let w = self.inner()?;
        w.flush()?;
        w.get_ref().sync_all()?;
        drop(self.file.take());
        fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        super::cleanup::done(&self.tmp);
        sync_dir(parent(&self.dest))
    }

    fn inner(&mut self) -> io::Result<&mut io::BufWriter<File>> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("file already committed"))
    }
}

impl Drop for DurableFile {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Discard what is buffered rather than write it to a doomed file.
        if let Some(w) = self.file.take() {
            let _ = w.into_parts();
        }
        let _ = fs::remove_file(&self.tmp);
        super::cleanup::done(&self.tmp);
    }
}

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Writeback is started from write_all only: an error from it here
        // would report bytes as unwritten that the buffer already took.
        let n = self.inner()?.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner()?.write_all(buf)?;
        self.written += buf.len() as u64;
        self.start_writeback()
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner()?.flush()
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

    #[test]
    fn a_file_written_out_early_in_pieces_is_whole() {
        // Past WRITEBACK_EVERY several times, in uneven writes, so early
        // writeback is started on ranges that end mid-write.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("big.jsonl");
        let mut f = DurableFile::create(&dest).unwrap();
        let mut want = Vec::new();
        let mut i = 0u32;
        while (want.len() as u64) < 3 * WRITEBACK_EVERY + 12345 {
            let piece: Vec<u8> = (0..(i % 7919 + 1) * 131).map(|k| (k ^ i) as u8).collect();
            f.write_all(&piece).unwrap();
            want.extend_from_slice(&piece);
            i += 1;
        }
        assert!(f.kicked > 0 && f.kicked <= f.written);
        assert_eq!(f.written, want.len() as u64);
        f.commit().unwrap();
        assert!(fs::read(&dest).unwrap() == want);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
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
