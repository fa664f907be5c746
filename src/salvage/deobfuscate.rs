//! `salvage --deobfuscate`: every exported line whose value Bitcoin Core
//! obfuscated also carries it XORed back, as `value_deobfuscated` (or
//! `value_deobfuscated_base64`, by the same rule as `value`), after the
//! raw `value`, which is kept. The key's own entry is stored as is and gets
//! no such field; deletes have no value.
//!
//! The key is set for the length of one salvage run ([`activate`]) rather
//! than handed to every place that formats a line (the exporter, the table
//! captures on worker threads, the range merge): one salvage runs per
//! process, and the field is then added by one call at the end of
//! [`super::ndjson::push_line_in_pieces`].

use crate::format::batch::Kind;
use crate::scan::bitcoin::{xor_into, KEY_SIZE, OBFUSCATE_KEY};
use crate::scan::Entry;
use crate::vocab::bytes::push_field_in_pieces;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static KEY: AtomicU64 = AtomicU64::new(0);

/// While this lives, lines carry the de-obfuscated value.
pub struct Active(bool);

impl Drop for Active {
    fn drop(&mut self) {
        if self.0 {
            ACTIVE.store(false, Ordering::Release);
        }
    }
}

/// De-obfuscate with `key` until the returned guard is dropped (`None`:
/// nothing changes).
pub fn activate(key: Option<[u8; KEY_SIZE]>) -> Active {
    match key {
        Some(k) => {
            KEY.store(u64::from_le_bytes(k), Ordering::Release);
            ACTIVE.store(true, Ordering::Release);
            Active(true)
        }
        None => Active(false),
    }
}

fn key() -> Option<[u8; KEY_SIZE]> {
    ACTIVE
        .load(Ordering::Acquire)
        .then(|| KEY.load(Ordering::Acquire).to_le_bytes())
}

/// Append `,"value_deobfuscated…":…` for `e` when a key is active and the
/// entry is an obfuscated value.
pub fn push_field(
    out: &mut Vec<u8>,
    e: &Entry<'_>,
    full: usize,
    spill: &mut dyn FnMut(&mut Vec<u8>),
) {
    let Some(k) = key() else {
        return;
    };
    if e.kind != Kind::Put || e.key == OBFUSCATE_KEY {
        return;
    }
    let mut plain = Vec::with_capacity(e.value.len());
    xor_into(&mut plain, e.value, &k);
    push_field_in_pieces(out, "value_deobfuscated", &plain, full, spill);
}
