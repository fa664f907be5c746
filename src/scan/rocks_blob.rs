//! A RocksDB blob file verified record by record
//! ([`crate::format::rocks_blob`] has the layout). The file is read through
//! a window of [`WINDOW`] bytes, so a blob file of any size costs that much
//! memory; a value larger than the window has its CRC taken a window at a
//! time.
//!
//! Records have no sync marks: after a record header whose CRC fails, the
//! next record is found by trying every later offset for a header that
//! verifies and whose record fits in the file. Damage that runs to the end of
//! a file without a footer is torn (the write of the file was cut off);
//! anything else is garbled. A valid footer (its own CRC) marks where the
//! records end; a file without one was never closed or lost its end.

use crate::format::crc;
use crate::format::rocks_blob::{
    self as fmt, BlobError, FOOTER_SIZE, HEADER_SIZE, RECORD_HEADER_SIZE,
};
use crate::vocab::{Class, Counts, Damage, KeyRange};
use std::io;

/// Bytes read at once.
pub const WINDOW: usize = 1 << 20;
/// The longest key a damaged record's key range is given for.
const MAX_KEY: u64 = 64 << 10;

/// What the scan of one blob file found.
#[derive(Debug, Default)]
pub struct BlobScan {
    /// Records by class (a stretch of bytes no record header could be
    /// found in counts as one garbled record).
    pub records: Counts,
    pub damage: Vec<Damage>,
    pub io_error: Option<String>,
    /// What is worth saying and is not damage (no footer, a blob count that
    /// disagrees with the records found).
    pub notes: Vec<String>,
    pub header: Option<fmt::BlobHeader>,
}

/// A window over the file: the bytes `[start, start + buf.len())`.
struct Window<'a> {
    src: &'a dyn super::logfile::Source,
    size: u64,
    start: u64,
    buf: Vec<u8>,
}

impl Window<'_> {
    /// `n` (at most [`WINDOW`]) bytes at `at`, all inside the file.
    fn get(&mut self, at: u64, n: usize) -> io::Result<&[u8]> {
        let have = at >= self.start
            && at.saturating_add(n as u64) <= self.start.saturating_add(self.buf.len() as u64);
        if !have {
            let len = (self.size.saturating_sub(at)).min(WINDOW as u64) as usize;
            self.buf.resize(len, 0);
            let mut got = 0;
            while got < len {
                match self.src.read_at(&mut self.buf[got..], at + got as u64) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "the file shrank while being read (at byte {})",
                                at + got as u64
                            ),
                        ))
                    }
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.start = at;
        }
        let from = (at - self.start) as usize;
        self.buf
            .get(from..from + n)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))
    }

    /// CRC-32C of `len` bytes at `at`, continued from `crc`.
    fn crc(&mut self, mut crc: u32, mut at: u64, mut len: u64) -> io::Result<u32> {
        while len > 0 {
            let n = len.min(WINDOW as u64) as usize;
            crc = crc::extend(crc, self.get(at, n)?);
            at += n as u64;
            len -= n as u64;
        }
        Ok(crc)
    }
}

/// Scan the blob file of `size` bytes read from `src`.
pub fn scan(src: &dyn super::logfile::Source, size: u64, progress: &dyn Fn(u64)) -> BlobScan {
    let mut out = BlobScan::default();
    let mut w = Window {
        src,
        size,
        start: 0,
        buf: Vec::new(),
    };
    let mut reported = 0u64;
    let r = scan_into(&mut w, size, &mut out, &mut |n| {
        reported += n;
        progress(n);
    });
    if let Err(e) = r {
        out.io_error = Some(format!("read error: {e}"));
    }
    progress(size.saturating_sub(reported));
    out
}

fn scan_into(
    w: &mut Window<'_>,
    size: u64,
    out: &mut BlobScan,
    progress: &mut dyn FnMut(u64),
) -> io::Result<()> {
    let header_len = HEADER_SIZE as u64;
    if size < header_len {
        out.records.add(Some(Class::Torn));
        out.damage.push(Damage::new(
            0,
            size,
            Class::Torn,
            format!("blob file header cut short: {size} of {HEADER_SIZE} bytes"),
        ));
        return Ok(());
    }
    match fmt::header(w.get(0, HEADER_SIZE)?) {
        Ok(h) => out.header = Some(h),
        Err(e) => {
            // The records may still verify on their own CRCs.
            out.damage
                .push(Damage::new(0, header_len, Class::Garbled, e.to_string()));
        }
    }
    // The footer, when the file has one, ends the records.
    let footer = (size >= header_len + FOOTER_SIZE as u64)
        .then(|| -> io::Result<_> {
            Ok(fmt::footer(w.get(size - FOOTER_SIZE as u64, FOOTER_SIZE)?).ok())
        })
        .transpose()?
        .flatten();
    let end = if footer.is_some() {
        size - FOOTER_SIZE as u64
    } else {
        size
    };
    // Damage reaching `end` is a cut write unless a footer follows it.
    let to_end = if footer.is_some() {
        Class::Garbled
    } else {
        Class::Torn
    };
    let mut pos = header_len;
    let mut reported = 0u64;
    let mut found = 0u64;
    while pos < end {
        if pos - reported >= WINDOW as u64 {
            progress(pos - reported);
            reported = pos;
        }
        let left = end - pos;
        if left < RECORD_HEADER_SIZE as u64 {
            out.records.add(Some(to_end));
            out.damage.push(Damage::new(
                pos,
                left,
                to_end,
                format!("blob record header cut short: {left} of {RECORD_HEADER_SIZE} bytes"),
            ));
            break;
        }
        let h = match fmt::record_header(w.get(pos, RECORD_HEADER_SIZE)?) {
            Ok(h) => h,
            Err(e) => match next_record(w, pos + 1, end)? {
                Some(next) => {
                    out.records.add(Some(Class::Garbled));
                    out.damage.push(Damage::new(
                        pos,
                        next - pos,
                        Class::Garbled,
                        format!("{e}; the next record header that verifies is at byte {next}"),
                    ));
                    pos = next;
                    continue;
                }
                None => {
                    out.records.add(Some(to_end));
                    out.damage.push(Damage::new(
                        pos,
                        end - pos,
                        to_end,
                        format!("{e}; no record header verifies after it"),
                    ));
                    break;
                }
            },
        };
        let len = h.record_len().filter(|&l| l <= left);
        let Some(len) = len else {
            out.records.add(Some(to_end));
            out.damage.push(Damage::new(
                pos,
                left,
                to_end,
                format!(
                    "blob record of {} bytes (key {}, value {}) runs past the end of the {}",
                    h.record_len()
                        .map_or("more than 2^64".to_string(), |l| l.to_string()),
                    h.key_len,
                    h.value_len,
                    if footer.is_some() {
                        "records (the footer)"
                    } else {
                        "file"
                    }
                ),
            ));
            break;
        };
        found += 1;
        let kv = w.crc(0, pos + RECORD_HEADER_SIZE as u64, h.key_len + h.value_len)?;
        if h.blob_crc_matches(kv) {
            out.records.add(None);
        } else {
            out.records.add(Some(Class::Garbled));
            let mut d = Damage::new(
                pos,
                len,
                Class::Garbled,
                format!(
                    "{} in the record of a {}-byte key and a {}-byte value: that value is lost",
                    BlobError::BlobCrc,
                    h.key_len,
                    h.value_len
                ),
            );
            d.lost_entries = Some(1);
            // The key, to requeue by: under the failed CRC too, so said.
            if h.key_len <= MAX_KEY {
                let key = w.get(pos + RECORD_HEADER_SIZE as u64, h.key_len as usize)?;
                d.key_range = Some(KeyRange {
                    first: Some(key.to_vec()),
                    first_exclusive: false,
                    last: Some(key.to_vec()),
                });
                d.reason.push_str(
                    " (its key, as the record holds it, is under the same failed checksum)",
                );
            }
            out.damage.push(d);
        }
        pos += len;
    }
    match footer {
        Some(f) if f.blob_count != found => out.notes.push(format!(
            "its footer counts {} blob(s), {found} record(s) were found",
            f.blob_count
        )),
        Some(_) => {}
        None => out.notes.push(
            "no footer: the file was cut short or never closed (a flush or compaction the \
             crash interrupted)"
                .to_string(),
        ),
    }
    Ok(())
}

/// The first offset from `from` where a record header verifies and its
/// record fits before `end`.
fn next_record(w: &mut Window<'_>, from: u64, end: u64) -> io::Result<Option<u64>> {
    let mut at = from;
    while at.saturating_add(RECORD_HEADER_SIZE as u64) <= end {
        // One window's worth of candidates at a time.
        let n = (end - at).min(WINDOW as u64) as usize;
        let buf = w.get(at, n)?;
        let last = n.saturating_sub(RECORD_HEADER_SIZE);
        for i in 0..=last {
            if let Ok(h) = fmt::record_header(&buf[i..]) {
                let p = at + i as u64;
                if h.record_len().is_some_and(|l| l <= end - p) {
                    return Ok(Some(p));
                }
            }
        }
        if n < WINDOW {
            break;
        }
        at += (last + 1) as u64;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed blob file of `n` records; the records' offsets.
    fn file(n: usize, footer: bool) -> (Vec<u8>, Vec<u64>) {
        let mut f = fmt::encode_header(0, 0);
        let mut at = Vec::new();
        for i in 0..n {
            at.push(f.len() as u64);
            f.extend(fmt::encode_record(
                format!("key{i}").as_bytes(),
                format!("value number {i} ").repeat(i + 1).as_bytes(),
            ));
        }
        if footer {
            f.extend(fmt::encode_footer(n as u64));
        }
        (f, at)
    }

    struct Mem(Vec<u8>);
    impl super::super::logfile::Source for Mem {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let from = (offset as usize).min(self.0.len());
            let n = buf.len().min(self.0.len() - from);
            buf[..n].copy_from_slice(&self.0[from..from + n]);
            Ok(n)
        }
    }

    fn run(f: &[u8]) -> BlobScan {
        scan(&Mem(f.to_vec()), f.len() as u64, &|_| {})
    }

    #[test]
    fn a_healthy_file_is_all_intact() {
        let (f, _) = file(5, true);
        let s = run(&f);
        assert_eq!(s.records.intact, 5);
        assert!(s.damage.is_empty() && s.notes.is_empty() && s.io_error.is_none());
        let (f, _) = file(0, true);
        assert!(run(&f).damage.is_empty());
    }

    #[test]
    fn a_flipped_value_byte_is_one_garbled_record() {
        let (mut f, at) = file(5, true);
        let v = at[2] as usize + 32 + 4 + 3;
        f[v] ^= 0x10;
        let s = run(&f);
        assert_eq!((s.records.intact, s.records.garbled), (4, 1));
        assert_eq!(s.damage.len(), 1);
        assert_eq!(s.damage[0].offset, at[2]);
        assert_eq!(s.damage[0].end(), at[3]);
        assert_eq!(s.damage[0].class, Class::Garbled);
        assert_eq!(s.damage[0].lost_entries, Some(1));
        let r = s.damage[0].key_range.as_ref().unwrap();
        assert_eq!(r.first.as_deref(), Some(&b"key2"[..]));
        assert_eq!(r.last.as_deref(), Some(&b"key2"[..]));
    }

    #[test]
    fn a_broken_header_is_skipped_to_the_next_record() {
        let (mut f, at) = file(5, true);
        f[at[1] as usize] ^= 1;
        let s = run(&f);
        assert_eq!((s.records.intact, s.records.garbled), (4, 1));
        assert_eq!((s.damage[0].offset, s.damage[0].end()), (at[1], at[2]));
        assert_eq!(s.damage[0].class, Class::Garbled);
    }

    #[test]
    fn a_cut_file_is_torn_at_its_end() {
        let (f, at) = file(5, true);
        for cut in [at[3] as usize + 10, at[3] as usize + 40, f.len() - 1] {
            let s = run(&f[..cut]);
            let last = s.damage.last().unwrap();
            assert_eq!(last.class, Class::Torn, "cut at {cut}: {:?}", s.damage);
            assert_eq!(last.end(), cut as u64);
            assert_eq!(s.records.intact, if cut == f.len() - 1 { 5 } else { 3 });
        }
        // Cut at a record boundary: nothing damaged, no footer said.
        let s = run(&f[..at[4] as usize]);
        assert!(s.damage.is_empty());
        assert_eq!(s.notes.len(), 1);
        let s = run(&f[..10]);
        assert_eq!(s.damage[0].class, Class::Torn);
    }

    #[test]
    fn hostile_bytes_end() {
        let (f, _) = file(6, true);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            let mut g = f.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % g.len();
                g[i] = (x >> 32) as u8;
            }
            let cut = (x >> 40) as usize % (g.len() + 1);
            let s = run(&g[..cut]);
            let total: u64 = s.damage.iter().map(|d| d.length).sum();
            assert!(total <= cut as u64);
        }
    }
}
