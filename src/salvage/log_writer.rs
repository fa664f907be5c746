//! LevelDB's log format (`db/log_writer.cc`), written into memory. Used for a
//! rebuilt MANIFEST, whose records are VersionEdits, and for write-ahead logs.
//!
//! The file is a sequence of 32 KiB blocks; each record is cut into fragments
//! that never cross a block boundary:
//! ```text
//! checksum: fixed32   masked CRC-32C of type ++ data
//! length:   u16 LE    length of data
//! type:     u8        FULL=1, FIRST=2, MIDDLE=3, LAST=4
//! data:     length bytes
//! ```
//! A block tail too short for a 7-byte header is zero-filled.

use crate::format::log::{encode_fragment, RecordType};
pub use crate::format::log::{BLOCK_SIZE, HEADER_SIZE};

pub const FULL: u8 = RecordType::Full as u8;
pub const FIRST: u8 = RecordType::First as u8;
pub const MIDDLE: u8 = RecordType::Middle as u8;
pub const LAST: u8 = RecordType::Last as u8;

#[derive(Debug, Clone, Default)]
pub struct LogWriter {
    out: Vec<u8>,
    /// Offset within the current block; kept separately from `out.len()` so
    /// the arithmetic never depends on how large the whole log has grown.
    block_offset: usize,
}

impl LogWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append one logical record, fragmenting it as LevelDB does. As there,
    /// a block with exactly 7 bytes left receives an empty FIRST fragment
    /// rather than padding, and an empty record is a FULL fragment of
    /// length 0.
    pub fn add_record(&mut self, payload: &[u8]) {
        let mut left = payload;
        let mut begin = true;
        loop {
            let leftover = BLOCK_SIZE - self.block_offset;
            if leftover < HEADER_SIZE {
                self.out.resize(self.out.len() + leftover, 0);
                self.block_offset = 0;
            }
            let avail = BLOCK_SIZE - self.block_offset - HEADER_SIZE;
            let (fragment, rest) = left.split_at(left.len().min(avail));
            let end = rest.is_empty();
            let kind = match (begin, end) {
                (true, true) => RecordType::Full,
                (true, false) => RecordType::First,
                (false, false) => RecordType::Middle,
                (false, true) => RecordType::Last,
            };
            self.emit(kind, fragment);
            left = rest;
            begin = false;
            if end {
                break;
            }
        }
    }

    fn emit(&mut self, kind: RecordType, data: &[u8]) {
        // A fragment never exceeds BLOCK_SIZE - HEADER_SIZE, so it fits a u16.
        encode_fragment(&mut self.out, kind, data);
        self.block_offset += HEADER_SIZE + data.len();
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::crc;

    /// (type, data) of every fragment, checking each header's CRC; padding
    /// must be all zeros.
    fn fragments(log: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < log.len() {
            let in_block = BLOCK_SIZE - pos % BLOCK_SIZE;
            if in_block < HEADER_SIZE {
                assert!(log[pos..pos + in_block].iter().all(|&b| b == 0));
                pos += in_block;
                continue;
            }
            let h = &log[pos..pos + HEADER_SIZE];
            let sum = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let len = usize::from(u16::from_le_bytes([h[4], h[5]]));
            let kind = h[6];
            assert!(len <= in_block - HEADER_SIZE, "fragment crosses block");
            let data = &log[pos + HEADER_SIZE..pos + HEADER_SIZE + len];
            let mut typed = vec![kind];
            typed.extend_from_slice(data);
            assert_eq!(crc::unmask(sum), crc::value(&typed));
            out.push((kind, data.to_vec()));
            pos += HEADER_SIZE + len;
        }
        out
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn small_record_exact_bytes() {
        let mut w = LogWriter::new();
        w.add_record(b"abc");
        let b = w.as_bytes();
        assert_eq!(b.len(), 10);
        let sum = crc::mask(crc::value(&[FULL, b'a', b'b', b'c']));
        assert_eq!(&b[..4], &sum.to_le_bytes());
        assert_eq!(&b[4..7], &[3, 0, FULL]);
        assert_eq!(&b[7..], b"abc");
    }

    #[test]
    fn empty_record() {
        let mut w = LogWriter::new();
        w.add_record(b"");
        w.add_record(b"x");
        assert_eq!(w.as_bytes().len(), 7 + 8);
        assert_eq!(
            fragments(w.as_bytes()),
            vec![(FULL, vec![]), (FULL, b"x".to_vec())]
        );
    }

    #[test]
    fn record_exactly_filling_a_block() {
        let p = pattern(BLOCK_SIZE - HEADER_SIZE);
        let mut w = LogWriter::new();
        w.add_record(&p);
        assert_eq!(w.as_bytes().len(), BLOCK_SIZE);
        w.add_record(b"next");
        let b = w.into_bytes();
        // The next record starts the second block with no padding.
        assert_eq!(b.len(), BLOCK_SIZE + 7 + 4);
        assert_eq!(&b[BLOCK_SIZE + 4..BLOCK_SIZE + 7], &[4, 0, FULL]);
        assert_eq!(fragments(&b), vec![(FULL, p), (FULL, b"next".to_vec())]);
    }

    #[test]
    fn six_bytes_left_are_padding() {
        let p = pattern(BLOCK_SIZE - HEADER_SIZE - 6);
        let mut w = LogWriter::new();
        w.add_record(&p);
        assert_eq!(w.as_bytes().len(), BLOCK_SIZE - 6);
        w.add_record(b"yz");
        let b = w.into_bytes();
        assert_eq!(&b[BLOCK_SIZE - 6..BLOCK_SIZE], &[0u8; 6]);
        assert_eq!(&b[BLOCK_SIZE + 4..BLOCK_SIZE + 7], &[2, 0, FULL]);
        assert_eq!(b.len(), BLOCK_SIZE + 9);
        assert_eq!(fragments(&b), vec![(FULL, p), (FULL, b"yz".to_vec())]);
    }

    #[test]
    fn seven_bytes_left_get_an_empty_first_fragment() {
        let p = pattern(BLOCK_SIZE - HEADER_SIZE - 7);
        let mut w = LogWriter::new();
        w.add_record(&p);
        w.add_record(b"hello");
        let b = w.into_bytes();
        // Header of the empty FIRST fragment fills the last 7 bytes.
        let first = &b[BLOCK_SIZE - 7..BLOCK_SIZE];
        assert_eq!(&first[..4], &crc::mask(crc::value(&[FIRST])).to_le_bytes());
        assert_eq!(&first[4..], &[0, 0, FIRST]);
        assert_eq!(&b[BLOCK_SIZE + 4..BLOCK_SIZE + 7], &[5, 0, LAST]);
        assert_eq!(
            fragments(&b),
            vec![(FULL, p), (FIRST, vec![]), (LAST, b"hello".to_vec())]
        );
    }

    #[test]
    fn seven_bytes_left_and_empty_record_is_full() {
        let mut w = LogWriter::new();
        w.add_record(&pattern(BLOCK_SIZE - HEADER_SIZE - 7));
        w.add_record(b"");
        assert_eq!(w.as_bytes().len(), BLOCK_SIZE);
        assert_eq!(fragments(w.as_bytes()).last(), Some(&(FULL, vec![])));
    }

    #[test]
    fn large_record_spans_blocks() {
        let p = pattern(3 * BLOCK_SIZE);
        let mut w = LogWriter::new();
        w.add_record(b"head");
        w.add_record(&p);
        let frags = fragments(w.as_bytes());
        let kinds: Vec<u8> = frags.iter().map(|f| f.0).collect();
        assert_eq!(kinds, vec![FULL, FIRST, MIDDLE, MIDDLE, LAST]);
        let joined: Vec<u8> = frags[1..].iter().flat_map(|f| f.1.clone()).collect();
        assert_eq!(joined, p);
        // The FIRST fragment uses the rest of block 0 exactly.
        assert_eq!(frags[1].1.len(), BLOCK_SIZE - 11 - HEADER_SIZE);
    }
}
