//! Bitcoin Core's obfuscated values (`src/dbwrapper.cpp`, `dbwrapper.h`,
//! `util/obfuscation.h`). When Bitcoin Core creates a LevelDB database
//! (chainstate, block index) it writes, as the very first write into the
//! empty store, one entry under the key `"\x0e\x00obfuscate_key"`: the
//! 14-byte string `"\0obfuscate_key"` serialized with its compact-size
//! length. Its value is an 8-byte random key, serialized as a vector
//! (`0x08` then the 8 bytes), and is itself stored as is. Every other value
//! Bitcoin Core writes is XORed with that key repeated from the value's
//! first byte; keys are never obfuscated.
//!
//! The key is looked up here, once, before any file is scanned, so that
//! `scan` and `salvage` name the same dialect and a salvage can write
//! de-XORed values from its first line on. Only intact bytes count: the
//! first record of each live (or unknown-state) log, which is where a young
//! store holds it, and the live table the MANIFEST says starts with it
//! (the key sorts before every key Bitcoin Core writes, so a table holding
//! it starts with it). Without a readable MANIFEST tables are only looked
//! at when `--dialect bitcoin-core` says the store is Bitcoin Core's.

use super::store::{scan_file_with, InputFile, ScanOptions};
use super::{Entry, EntrySink};
use crate::format::batch::{self, Kind};
use crate::format::filename::FileKind;
use crate::format::ikey;
use crate::format::log::{parse_block, Piece, RecordType, BLOCK_SIZE};
use crate::format::manifest::VersionState;
use crate::report::{Dialect, Obfuscation};
use crate::vocab::FileState;

/// The key Bitcoin Core stores its obfuscation key under, as LevelDB
/// holds it: compact-size length 14, then `"\0obfuscate_key"`.
pub const OBFUSCATE_KEY: &[u8] = b"\x0e\x00obfuscate_key";

/// The XOR key's length (`Obfuscation::KEY_SIZE`).
pub const KEY_SIZE: usize = 8;

/// The XOR key an `obfuscate_key` value holds: a vector of exactly 8 bytes.
pub fn key_of(value: &[u8]) -> Option<[u8; KEY_SIZE]> {
    match value.split_first() {
        Some((&8, rest)) => rest.try_into().ok(),
        _ => None,
    }
}

/// `value` XORed with `key` repeated from its first byte, appended to `out`
/// (XOR is its own inverse: this both obfuscates and de-obfuscates).
pub fn xor_into(out: &mut Vec<u8>, value: &[u8], key: &[u8; KEY_SIZE]) {
    out.extend(value.iter().zip(key.iter().cycle()).map(|(v, k)| v ^ k));
}

/// Where the key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub key: [u8; KEY_SIZE],
    pub file: String,
    pub seq: u64,
}

impl Found {
    pub fn to_report(&self) -> Obfuscation {
        Obfuscation {
            key_hex: self.key.iter().map(|b| format!("{b:02x}")).collect(),
            file: self.file.clone(),
            sequence: self.seq,
        }
    }
}

/// Keeps the newest intact `obfuscate_key` entry it is given.
#[derive(Default)]
struct Spot {
    found: Option<([u8; KEY_SIZE], u64)>,
}

impl Spot {
    fn offer(&mut self, seq: u64, kind: Kind, key: &[u8], value: &[u8]) {
        if kind != Kind::Put || key != OBFUSCATE_KEY {
            return;
        }
        if let Some(k) = key_of(value) {
            if self.found.is_none_or(|(_, s)| seq > s) {
                self.found = Some((k, seq));
            }
        }
    }
}

impl EntrySink for Spot {
    fn intact(&mut self, e: &Entry<'_>) {
        self.offer(e.seq, e.kind, e.key, e.value);
    }
    fn unverified(&mut self, _: &Entry<'_>, _: &str) {}
}

/// The first record of a log, if it is a verified FULL fragment holding a
/// batch that decodes completely: Bitcoin Core's first write is the key
/// alone, so this is where it sits until the log is flushed.
fn in_log_head(f: &InputFile) -> Option<([u8; KEY_SIZE], u64)> {
    use std::os::unix::fs::FileExt;
    if f.not_regular.is_some() {
        return None;
    }
    let (file, md) = super::open::open_store_file(&f.path).ok()?;
    let len = usize::try_from(md.len().min(BLOCK_SIZE as u64)).ok()?;
    let mut block = vec![0u8; len];
    file.read_exact_at(&mut block, 0).ok()?;
    let mut pieces = Vec::new();
    parse_block(&block, md.len() <= BLOCK_SIZE as u64, &mut pieces);
    let Some(Piece::Fragment {
        rtype: RecordType::Full,
        payload: (a, b),
        ..
    }) = pieces.first().copied()
    else {
        return None;
    };
    let payload = block.get(a..b)?;
    let mut spot = Spot::default();
    let mut entries = Vec::new();
    batch::for_each(payload, |e| entries.push(e)).ok()?;
    for e in entries {
        spot.offer(e.seq, e.kind, e.key, e.value);
    }
    spot.found
}

/// A table read through the one table reader, its intact entries searched.
fn in_table(f: &InputFile, ordered: bool) -> Option<([u8; KEY_SIZE], u64)> {
    let mut spot = Spot::default();
    let opts = ScanOptions {
        ordered,
        ..ScanOptions::default()
    };
    let _ = scan_file_with(f, &mut spot, &crate::progress::Silent, &opts);
    spot.found
}

/// Look for the key among the store's live (or unknown-state) files.
/// `all_tables`: also read tables the MANIFEST does not say start with it
/// (only when the store is said to be Bitcoin Core's and no MANIFEST was
/// read: reading every table twice is not paid for a guess).
pub fn probe(
    inputs: &[InputFile],
    members: &[usize],
    states: &[(FileState, Option<String>)],
    version: Option<&VersionState>,
    all_tables: bool,
) -> Option<Found> {
    let mut best: Option<Found> = None;
    let mut take = |f: &InputFile, hit: Option<([u8; KEY_SIZE], u64)>| {
        if let Some((key, seq)) = hit {
            if best.as_ref().is_none_or(|b| seq > b.seq) {
                best = Some(Found {
                    key,
                    file: f.name.clone(),
                    seq,
                });
            }
        }
    };
    for (&i, (state, _)) in members.iter().zip(states) {
        let f = &inputs[i];
        if !matches!(state, FileState::Live | FileState::Unknown) {
            continue;
        }
        match f.kind {
            FileKind::Log => take(f, in_log_head(f)),
            FileKind::Table => {
                let starts_with_key = version.is_some_and(|v| {
                    f.number
                        .and_then(|n| v.files.get(&n))
                        .is_some_and(|(_, nf)| ikey::user_key(&nf.smallest) == OBFUSCATE_KEY)
                });
                if starts_with_key || (all_tables && version.is_none()) {
                    take(f, in_table(f, true));
                }
            }
            _ => {}
        }
    }
    best
}

/// Decide whether the store is Bitcoin Core's: a LevelDB store (as the
/// footers and files say) holding the key intact. `overridden`: the
/// dialect was set by `--dialect`, which is kept whatever is found; the
/// key is still looked for so that `--deobfuscate` has it.
pub fn detect(
    inputs: &[InputFile],
    members: &[usize],
    states: &[(FileState, Option<String>)],
    version: Option<&VersionState>,
    dialect: &mut Dialect,
    overridden: bool,
) -> Option<Found> {
    let wanted = if overridden {
        dialect.name == "bitcoin-core"
    } else {
        dialect.name == "leveldb"
    };
    if !wanted {
        return None;
    }
    let found = probe(inputs, members, states, version, overridden);
    match (&found, overridden) {
        (Some(f), false) => {
            dialect.name = "bitcoin-core";
            dialect.evidence.push(format!(
                "{}: an intact entry (sequence {}) under Bitcoin Core's obfuscation key \
                 \"\\x0e\\x00obfuscate_key\": values are XORed with the 8-byte key {}",
                f.file,
                f.seq,
                f.to_report().key_hex
            ));
        }
        (Some(f), true) => dialect.evidence.push(format!(
            "{}: the obfuscation key {} is stored intact (sequence {})",
            f.file,
            f.to_report().key_hex,
            f.seq
        )),
        (None, true) => dialect.evidence.push(
            "no intact \"\\x0e\\x00obfuscate_key\" entry was found: values cannot be \
             de-obfuscated"
                .to_string(),
        ),
        (None, false) => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_a_vector_of_eight_bytes() {
        assert_eq!(key_of(b"\x08abcdefgh"), Some(*b"abcdefgh"));
        assert_eq!(key_of(b"\x07abcdefg"), None);
        assert_eq!(key_of(b"\x08abcdefghi"), None);
        assert_eq!(key_of(b""), None);
    }

    #[test]
    fn xor_repeats_the_key_from_the_first_byte() {
        let key = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut out = Vec::new();
        xor_into(&mut out, &[0; 10], &key);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 1, 2]);
        let mut back = Vec::new();
        xor_into(&mut back, &out, &key);
        assert_eq!(back, [0; 10]);
    }
}
