//! Output that survives a crash of ours: write under a temporary name, fsync,
//! rename into place, fsync the directory. A file that has its final name is
//! complete. A file dropped without being committed (an error on the way)
//! takes its temporary name with it, so a failed run leaves no hidden files
//! that would make a retry into the same directory refuse it as not empty.
//! The bytes go out in pieces from a thread of their own, around the page
//! cache where the file system allows (see `Pieces`).

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
const PIECE: usize = 2 << 20;

/// What `O_DIRECT` asks of a write's address, length and offset: the
/// logical block size, 4096 at most on the disks we meet.
const ALIGN: usize = 4096;

/// A file written in pieces of [`PIECE`] bytes at known offsets, straight
/// to the disk (`O_DIRECT`) where the file system takes that, by a thread
/// of its own while the next piece is filled.
///
/// Why not through the page cache: an export of hundreds of megabytes
/// written there is copied into page-cache pages (on the benchmark's VM,
/// pages the host must back afresh after they were dropped: 0.4-0.7 s of
/// system time per table salvage on a fresh machine), then written back
/// by the kernel's flushers, and the final fsync waits for whatever they
/// have not reached. Why a thread: a direct write returns when the disk has
/// the bytes, and the writer that fills pieces must not wait for that.
/// Where `O_DIRECT` is refused (at open or at a write) the pieces go
/// through the page cache instead, each one's writeback started as it is
/// written, as RocksDB's `bytes_per_sync` does.
struct Pieces {
    /// The piece being filled, and where it goes in the file.
    cur: Piece,
    at: u64,
    /// Full pieces to the disk thread (taken by `finish`), and emptied ones
    /// back from it.
    to_disk: Option<std::sync::mpsc::SyncSender<(Piece, u64, usize)>>,
    back: std::sync::mpsc::Receiver<Piece>,
    /// Pieces that may still be made before one must come back.
    unmade: usize,
    /// The disk thread's first error, seen by the next write.
    failed: std::sync::Arc<std::sync::Mutex<Option<io::Error>>>,
    disk: Option<std::thread::JoinHandle<Disk>>,
}

/// Pieces in memory at once: one being filled, one being written, one
/// waiting, so that a slow write does not stall the writer at once.
const PIECES: usize = 3;

/// A buffer whose window `buf[start..start + PIECE]` is aligned to
/// [`ALIGN`] and holds `len` bytes.
struct Piece {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Piece {
    fn new() -> Self {
        let buf = vec![0u8; PIECE + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        Piece { buf, start, len: 0 }
    }

    fn bytes(&self, n: usize) -> &[u8] {
        &self.buf[self.start..self.start + n]
    }
}

/// The file, owned by the disk thread.
struct Disk {
    file: File,
    /// Written with `O_DIRECT`.
    direct: bool,
}

impl Disk {
    /// Write the first `n` bytes of `p` at `at`; `n` is a multiple of
    /// [`ALIGN`] unless the file is written through the page cache.
    fn put(&mut self, p: &Piece, n: usize, at: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let bytes = p.bytes(n);
        match self.file.write_all_at(bytes, at) {
            Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                // The file system opened the file for direct writes but
                // will not take them (its alignment is stricter, or it
                // only pretends): the page cache, from this piece on. A
                // direct write either wrote whole blocks or nothing, and
                // this piece is written again at the same offset.
                go_buffered(&self.file)?;
                self.direct = false;
                self.file.write_all_at(bytes, at)?;
            }
            r => r?,
        }
        if !self.direct {
            start_writeback(&self.file, at, n);
        }
        Ok(())
    }
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
                return Pieces::new(file, true);
            }
        }
        Pieces::new(opts.open(path)?, false)
    }

    fn new(file: File, direct: bool) -> io::Result<Self> {
        let (to_disk, rx) = std::sync::mpsc::sync_channel::<(Piece, u64, usize)>(PIECES);
        let (back_tx, back) = std::sync::mpsc::channel();
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = failed.clone();
        let mut d = Disk { file, direct };
        let disk = std::thread::Builder::new()
            .name("export-disk".into())
            .spawn(move || {
                wake_promptly();
                let mut ok = true;
                for (p, at, n) in rx {
                    if ok {
                        if let Err(e) = d.put(&p, n, at) {
                            ok = false;
                            *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        }
                    }
                    // The writer may be gone (dropped on an error).
                    let _ = back_tx.send(p);
                }
                d
            })?;
        Ok(Pieces {
            cur: Piece::new(),
            at: 0,
            to_disk: Some(to_disk),
            back,
            unmade: PIECES - 1,
            failed,
            disk: Some(disk),
        })
    }

    fn write_all(&mut self, mut b: &[u8]) -> io::Result<()> {
        while !b.is_empty() {
            let len = self.cur.len;
            let n = (PIECE - len).min(b.len());
            let (now, rest) = b.split_at(n);
            let start = self.cur.start;
            copy_past_cache(&mut self.cur.buf[start + len..start + len + n], now);
            self.cur.len += n;
            b = rest;
            if self.cur.len == PIECE {
                self.hand_over(PIECE)?;
                self.at += PIECE as u64;
            }
        }
        Ok(())
    }

    /// Give the disk thread the piece's first `n` bytes, and take an empty
    /// piece to fill next.
    fn hand_over(&mut self, n: usize) -> io::Result<()> {
        if let Some(e) = self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        let next = if self.unmade > 0 {
            self.unmade -= 1;
            Piece::new()
        } else {
            // The disk thread ends only when `to_disk` is dropped, and every
            // piece it takes comes back.
            let mut p = self.back.recv().map_err(|_| gone())?;
            p.len = 0;
            p
        };
        let full = std::mem::replace(&mut self.cur, next);
        self.to_disk
            .as_ref()
            .ok_or_else(gone)?
            .send((full, self.at, n))
            .map_err(|_| gone())
    }

    /// Write what is left and make it durable; whether the file was
    /// written directly to the end. A direct write's last piece is padded
    /// to [`ALIGN`] with zeros and the file cut back to its length.
    fn finish(mut self) -> io::Result<bool> {
        let exact = self.at + self.cur.len as u64;
        let tail = self.cur.len;
        let padded = tail.div_ceil(ALIGN) * ALIGN;
        if tail > 0 {
            // Padding is harmless on the page cache path too: the file is
            // cut back to its length below either way.
            let start = self.cur.start;
            self.cur.buf[start + tail..start + padded].fill(0);
            self.hand_over(padded)?;
        }
        drop(self.to_disk.take());
        let disk = self
            .disk
            .take()
            .ok_or_else(gone)?
            .join()
            .map_err(|_| io::Error::other("the export's disk thread panicked"))?;
        if let Some(e) = self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        if padded != tail {
            disk.file.set_len(exact)?;
        }
        disk.file.sync_all()?;
        Ok(disk.direct)
    }
}

impl Drop for Pieces {
    fn drop(&mut self) {
        // Let the disk thread finish with the file before the caller
        // removes it.
        drop(self.to_disk.take());
        if let Some(d) = self.disk.take() {
            let _ = d.join();
        }
    }
}

/// `dst.copy_from_slice(src)` for bytes no thread reads again: a piece
/// goes to the disk by DMA. With ordinary stores each destination line is
/// first read from memory and then evicts what the formatting threads keep
/// in the shared cache; streaming stores write around the cache (what
/// glibc's `memcpy` itself does only past several megabytes at once): a
/// table salvage writing 534 MB into a directory measured 0.714 -> 0.660 s,
/// 11 interleaved runs.
fn copy_past_cache(dst: &mut [u8], src: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
        let n = dst.len().min(src.len());
        // Up to the first 16-byte aligned destination address by plain
        // stores, then 16 bytes at a time, the rest by plain stores again.
        let head = dst.as_ptr().align_offset(16).min(n);
        let body = (n - head) / 16 * 16;
        let (dst_head, dst_rest) = dst[..n].split_at_mut(head);
        let (src_head, src_rest) = src[..n].split_at(head);
        dst_head.copy_from_slice(src_head);
        let (dst_body, dst_tail) = dst_rest.split_at_mut(body);
        let (src_body, src_tail) = src_rest.split_at(body);
        for (d, s) in dst_body.chunks_exact_mut(16).zip(src_body.chunks_exact(16)) {
            // SAFETY: SSE2 is part of x86_64; `s` and `d` are 16 bytes
            // each, `d` 16-byte aligned (it starts `head` bytes in, a
            // multiple of 16 after that); the load takes any alignment.
            unsafe {
                let v = _mm_loadu_si128(s.as_ptr().cast::<__m128i>());
                _mm_stream_si128(d.as_mut_ptr().cast::<__m128i>(), v);
            }
        }
        dst_tail.copy_from_slice(src_tail);
        // Streaming stores are not ordered with later ones: the piece is
        // handed to the disk thread through ordinary memory operations.
        // SAFETY: SSE is part of x86_64.
        unsafe { _mm_sfence() };
    }
    #[cfg(not(target_arch = "x86_64"))]
    dst.copy_from_slice(src);
}

/// Ask the scheduler to run the calling thread as soon as it wakes: a
/// short slice (`sched_runtime` of a normal thread, which EEVDF schedulers
/// since Linux 6.12 use to order wake-ups; earlier kernels ignore it), no
/// privilege needed, its nice value kept. For the disk thread, which sleeps
/// in the disk nearly all the time: while the formatting threads keep every
/// core busy, a wake-up that waits for one of them to use up its slice is
/// time the disk has nothing to write (4-6% of a salvage's time into a
/// directory, on both benchmark stores, measured interleaved). Best effort:
/// a refusal changes nothing else.
fn wake_promptly() {
    #[cfg(target_os = "linux")]
    {
        /// `struct sched_attr`, the first version of it (48 bytes).
        #[repr(C)]
        struct SchedAttr {
            size: u32,
            policy: u32,
            flags: u64,
            nice: i32,
            priority: u32,
            runtime: u64,
            deadline: u64,
            period: u64,
        }
        // getpriority returns the nice value itself, and -1 both as a
        // value and on error: an error leaves nothing to keep, so skip.
        // SAFETY: plain calls on the calling thread.
        let nice = unsafe {
            *libc::__errno_location() = 0;
            let n = libc::getpriority(libc::PRIO_PROCESS, 0);
            (*libc::__errno_location() == 0).then_some(n)
        };
        let Some(nice) = nice else {
            return;
        };
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: libc::SCHED_OTHER as u32,
            flags: 0,
            nice,
            priority: 0,
            // The shortest slice the kernel takes: 0.1 ms.
            runtime: 100_000,
            deadline: 0,
            period: 0,
        };
        // SAFETY: `attr` is a valid sched_attr of the size it states; pid 0
        // is the calling thread.
        let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    }
}

fn gone() -> io::Error {
    io::Error::other("the export's disk thread stopped")
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
        out.finish()?;
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

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_that_asks_to_wake_promptly_gets_a_short_slice_and_keeps_its_nice_value() {
        let read = |field: &str| {
            let s = fs::read_to_string("/proc/thread-self/sched").unwrap_or_default();
            s.lines()
                .find(|l| l.split_whitespace().next() == Some(field))
                .and_then(|l| l.rsplit(':').next())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        let (slice, nice_before, nice_after) = std::thread::spawn(move || {
            // SAFETY: plain calls on the calling thread.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 3) };
            let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            wake_promptly();
            let after = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            (read("se.slice"), before, after)
        })
        .join()
        .unwrap();
        assert_eq!(nice_before, 3);
        assert_eq!(nice_after, 3);
        // Kernels from 6.12 take a normal thread's slice, and show it.
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut v = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        if (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 12) {
            assert_eq!(slice, Some(100_000.0), "{release}");
        }
    }

    #[test]
    fn a_copy_past_the_cache_copies_every_byte_at_every_alignment() {
        let src: Vec<u8> = (0..300u32).map(|k| (k * 7 + 3) as u8).collect();
        for at in 0..40 {
            for len in (0..100).chain([255, 260]) {
                let mut dst = vec![0xAAu8; 300];
                copy_past_cache(&mut dst[at..at + len], &src[..len]);
                assert_eq!(&dst[at..at + len], &src[..len], "at {at} len {len}");
                assert!(dst[..at].iter().all(|&b| b == 0xAA), "at {at} len {len}");
                assert!(
                    dst[at + len..].iter().all(|&b| b == 0xAA),
                    "at {at} len {len}"
                );
            }
        }
    }

    #[test]
    fn a_file_written_in_pieces_is_whole_to_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("big.jsonl");
        let mut f = DurableFile::create(&dest).unwrap();
        let want = pieces_of(&mut f);
        let out = f.out.as_ref().unwrap();
        assert_eq!(out.at, 3 * PIECE as u64);
        assert_eq!(out.cur.len, want.len() - 3 * PIECE);
        f.commit().unwrap();
        // Not one padding byte past the end of a direct write's last piece.
        assert!(fs::read(&dest).unwrap() == want);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Several pieces written and finished with the first piece's start
    /// moved by `skew` bytes: whether the file stayed direct, and whether
    /// it holds exactly what was written.
    fn finished(skew: usize) -> (bool, bool) {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("records.jsonl");
        let mut f = DurableFile::create(&dest).unwrap();
        f.out.as_mut().unwrap().cur.start += skew;
        let want = pieces_of(&mut f);
        let direct = f.out.take().unwrap().finish().unwrap();
        (direct, fs::read(temp_name(&dest)).unwrap() == want)
    }

    #[test]
    fn a_file_system_that_refuses_a_direct_write_gets_the_page_cache() {
        // A piece that is not aligned is what a file system with stricter
        // rules than ours refuses: EINVAL, on a file opened O_DIRECT.
        assert_eq!(finished(1), (false, true));
    }

    #[test]
    fn a_whole_file_is_written_directly_where_the_file_system_takes_it() {
        let (direct, whole) = finished(0);
        assert!(whole);
        // CI's file system takes direct writes: there the direct path must
        // have been the one tested (and the fallback above was one).
        assert!(
            direct || std::env::var_os("CI").is_none(),
            "O_DIRECT refused"
        );
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
