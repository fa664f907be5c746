//! Raw bytes in JSON: a field `name` holding text when the bytes are valid
//! UTF-8, else `name_base64`. Keys and values in LevelDB are arbitrary bytes,
//! and a JSON string cannot carry them losslessly otherwise.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::ser::SerializeMap;

pub fn serialize_field<M: SerializeMap>(m: &mut M, name: &str, b: &[u8]) -> Result<(), M::Error> {
    match std::str::from_utf8(b) {
        Ok(s) => m.serialize_entry(name, s),
        Err(_) => m.serialize_entry(&format!("{name}_base64"), &STANDARD.encode(b)),
    }
}

/// The bytes in base64 when they are not UTF-8: the lossless companion of a
/// text field that had to replace them (a file name, say).
pub fn base64_unless_utf8(b: &[u8]) -> Option<String> {
    std::str::from_utf8(b).err().map(|_| STANDARD.encode(b))
}

/// As [`serialize_field`], with `null` for `None`.
pub fn serialize_opt_field<M: SerializeMap>(
    m: &mut M,
    name: &str,
    b: Option<&[u8]>,
) -> Result<(), M::Error> {
    match b {
        Some(b) => serialize_field(m, name, b),
        None => m.serialize_entry(name, &Option::<&str>::None),
    }
}

/// Append `"name":"…"` or `"name_base64":"…"` (with a leading comma) to a
/// JSON line being built by hand, for the hot NDJSON path.
pub fn push_field(out: &mut Vec<u8>, name: &str, b: &[u8]) {
    push_field_in_pieces(out, name, b, usize::MAX, &mut |_| {});
}

/// Input bytes turned into JSON between two looks at the output's size:
/// small enough that a huge value never sits in `out` whole, large enough
/// that the look costs nothing.
const PIECE: usize = 48 << 10;

/// [`push_field`] for values of any size: whenever `out` reaches `full`
/// bytes, `spill` is given it to take what it holds (and leave it empty or
/// shorter). The bytes handed over, concatenated, are exactly what
/// [`push_field`] appends.
pub fn push_field_in_pieces(
    out: &mut Vec<u8>,
    name: &str,
    b: &[u8],
    full: usize,
    spill: &mut dyn FnMut(&mut Vec<u8>),
) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    if b.len() <= PIECE {
        // One pass for most values: escaped as ASCII until a byte that is
        // not, and only from there checked as UTF-8 (the ASCII before it
        // is). Bytes that are not UTF-8 after all are taken back.
        let mark = out.len();
        out.extend_from_slice(b"\":\"");
        let utf8 = match escape_until::<true>(out, b) {
            None => true,
            Some(j) => {
                let rest = &b[j..];
                let ok = std::str::from_utf8(rest).is_ok();
                if ok {
                    escape_until::<false>(out, rest);
                }
                ok
            }
        };
        if utf8 {
            if out.len() >= full {
                spill(out);
            }
            out.push(b'"');
            return;
        }
        out.truncate(mark);
    }
    match std::str::from_utf8(b) {
        Ok(s) => {
            out.extend_from_slice(b"\":");
            push_str_in_pieces(out, s, full, spill);
        }
        Err(_) => {
            out.extend_from_slice(b"_base64\":\"");
            // PIECE is a multiple of 3: only the last piece is padded, so
            // the pieces' encodings join into the whole's.
            for piece in b.chunks(PIECE) {
                let start = out.len();
                out.resize(
                    start + base64::encoded_len(piece.len(), true).unwrap_or(0),
                    0,
                );
                let n = STANDARD.encode_slice(piece, &mut out[start..]).unwrap_or(0);
                out.truncate(start + n);
                if out.len() >= full {
                    spill(out);
                }
            }
            out.push(b'"');
        }
    }
}

/// Append `s` as a JSON string, escaped exactly as serde_json escapes it
/// (so the export's bytes do not depend on which path wrote them): `\"`,
/// `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as
/// `\u00xx`. This is the hot path of an export, and values are often text
/// that holds quotes (JSON stored as a value), so unescaped runs are found
/// sixteen bytes at a time and copied whole.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    push_str_in_pieces(out, s, usize::MAX, &mut |_| {});
}

/// [`push_str`] with `full` and `spill` as in [`push_field_in_pieces`].
/// Only ASCII bytes are ever escaped, so cutting the input anywhere (even
/// inside a character) escapes the same bytes.
pub fn push_str_in_pieces(
    out: &mut Vec<u8>,
    s: &str,
    full: usize,
    spill: &mut dyn FnMut(&mut Vec<u8>),
) {
    let b = s.as_bytes();
    out.reserve(b.len().min(PIECE) + 2);
    out.push(b'"');
    for piece in b.chunks(PIECE) {
        escape_into(out, piece);
        if out.len() >= full {
            spill(out);
        }
    }
    out.push(b'"');
}

fn escape_into(out: &mut Vec<u8>, b: &[u8]) {
    escape_until::<false>(out, b);
}

/// Escape `b` into `out`; with `ASCII`, stop at the first byte that is not
/// ASCII and return its index (everything before it escaped).
fn escape_until<const ASCII: bool>(out: &mut Vec<u8>, b: &[u8]) -> Option<usize> {
    let mut run = 0;
    while let Some(j) = next_flagged::<ASCII>(b, run) {
        push_run(out, b, run, j);
        match b[j] {
            // Text holding JSON escapes quotes every few bytes: a copy of a
            // known length is a store, not a call.
            c @ (b'"' | b'\\') => out.extend_from_slice(&[b'\\', c]),
            c if ASCII && c >= 0x80 => return Some(j),
            c => {
                let (e, n) = escape(c);
                out.extend_from_slice(&e[..n]);
            }
        }
        run = j + 1;
    }
    out.extend_from_slice(&b[run..]);
    None
}

/// Append `b[run..end]`. A short run is copied as a whole word of
/// [`WORD`] bytes (what follows the run in `b` included) and the excess cut
/// off again: the runs between a value's quotes are a few bytes long, and
/// a copy of a variable length is a call where a fixed one is a store.
fn push_run(out: &mut Vec<u8>, b: &[u8], run: usize, end: usize) {
    match b
        .get(run..run + WORD)
        .and_then(|w| <&[u8; WORD]>::try_from(w).ok())
    {
        Some(w) if end - run <= WORD => {
            let len = out.len();
            out.extend_from_slice(w);
            out.truncate(len + (end - run));
        }
        _ => out.extend_from_slice(&b[run..end]),
    }
}

const WORD: usize = 16;

/// The first byte at or after `i` that JSON requires escaped (or, with
/// `ASCII`, that is not ASCII).
fn next_flagged<const ASCII: bool>(b: &[u8], mut i: usize) -> Option<usize> {
    let mask = |w: &[u8]| {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
        escape_mask(w) | if ASCII { w & HIGH } else { 0 }
    };
    let flagged = |c: u8| needs_escape(c) || (ASCII && c >= 0x80);
    #[cfg(target_arch = "x86_64")]
    {
        // Sixteen bytes tested at once, and the first flagged one found
        // exactly: no word test's candidates to check one by one.
        while let Some(w) = b.get(i..i + 16) {
            let m = flagged16::<ASCII>(w);
            if m != 0 {
                return Some(i + m.trailing_zeros() as usize);
            }
            i += 16;
        }
        // The last few bytes: the last sixteen, those before `i` ignored.
        if let Some(start) = b.len().checked_sub(16).filter(|&s| s < i) {
            let m = flagged16::<ASCII>(&b[start..]) >> (i - start);
            return (m != 0).then(|| i + m.trailing_zeros() as usize);
        }
    }
    // Two words at a time while the text runs clean (one branch per 16
    // bytes), then word by word.
    while let Some(w) = b.get(i..i + 16) {
        if mask(&w[..8]) | mask(&w[8..]) != 0 {
            break;
        }
        i += 16;
    }
    while let Some(w) = b.get(i..i + 8) {
        let m = mask(w);
        if m == 0 {
            i += 8;
            continue;
        }
        // Nothing before the lowest flagged byte needs escaping; the
        // flagged byte itself is checked exactly.
        let j = i + (m.trailing_zeros() / 8) as usize;
        if flagged(b[j]) {
            return Some(j);
        }
        i = j + 1;
    }
    (i..b.len()).find(|&j| flagged(b[j]))
}

/// Bit k set where `w[k]` (of 16 bytes) needs escaping or, with `ASCII`,
/// is not ASCII.
#[cfg(target_arch = "x86_64")]
fn flagged16<const ASCII: bool>(w: &[u8]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };
    let Ok(w) = <&[u8; 16]>::try_from(w) else {
        return 0;
    };
    // SAFETY: SSE2 is part of x86_64; the load reads the 16 bytes of `w`
    // at any alignment.
    let m = unsafe {
        let v = _mm_loadu_si128(w.as_ptr().cast::<__m128i>());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // As signed bytes, those below 0x20 are the control characters
        // and every byte from 0x80 up; unsigned, only the control ones.
        let low = if ASCII {
            _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))
        } else {
            _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v)
        };
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), low))
    };
    m as u32
}

/// The high bit of every byte: where a byte is not ASCII.
const HIGH: u64 = 0x8080_8080_8080_8080;

fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// The high bit of each byte of `w` (little-endian) that may be a control
/// character, `"` or `\`, from the classic "has a zero byte" / "has a byte
/// below n" word tests. They never miss such a byte, and no byte below the
/// lowest flagged one is flagged wrongly (a borrow only runs upward from a
/// byte that matched), which is all a skip needs.
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    (below_space | zero(quote) | zero(backslash)) & HIGH
}

/// The escape for `c` and its length, as serde_json writes it.
fn escape(c: u8) -> ([u8; 6], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match c {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            let hex = [HEX[usize::from(c >> 4)], HEX[usize::from(c & 0xf)]];
            return ([b'\\', b'u', b'0', b'0', hex[0], hex[1]], 6);
        }
    };
    ([b'\\', short, 0, 0, 0, 0], 2)
}

pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_needing_escapes_round_trip() {
        for t in [
            "plain",
            "q\"uote",
            "back\\slash",
            "new\nline",
            "ctl\u{1}x",
            "ünï",
            "",
        ] {
            let mut v = Vec::new();
            push_str(&mut v, t);
            let back: String = serde_json::from_slice(&v).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn escapes_exactly_as_serde_json_does() {
        // Every byte value that can appear in a str, at every position of
        // an eight-byte word and across word edges, and longer mixed runs.
        let mut cases: Vec<String> = Vec::new();
        for c in (0u32..0x80).chain([0xe9, 0x2028, 0x1f600]) {
            let ch = char::from_u32(c).unwrap();
            for pad in 0..17 {
                let mut t = "x".repeat(pad);
                t.push(ch);
                t.push_str("tail text");
                cases.push(t);
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            let t: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match x % 7 {
                        0 => '"',
                        1 => '\\',
                        2 => char::from((x >> 8) as u8 % 0x20),
                        3 => 'é',
                        _ => char::from(b'a' + (x >> 8) as u8 % 26),
                    }
                })
                .collect();
            cases.push(t);
        }
        for t in &cases {
            let mut v = b"prefix".to_vec();
            push_str(&mut v, t);
            assert_eq!(
                &v[6..],
                serde_json::to_string(t).unwrap().as_bytes(),
                "{t:?}"
            );
        }
    }

    #[test]
    fn the_word_test_never_misses_a_byte_to_escape() {
        let specials: Vec<u8> = (0u8..0x20).chain([b'"', b'\\']).collect();
        let fills = [
            b'a', b' ', 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']', 0x21, 0x5d,
        ];
        for &special in &specials {
            for pos in 0..8 {
                for fill in fills {
                    for &later in specials.iter().chain(&fills) {
                        let mut w = [fill; 8];
                        w[pos] = special;
                        for x in w.iter_mut().skip(pos + 1).step_by(2) {
                            *x = later;
                        }
                        let m = escape_mask(u64::from_le_bytes(w));
                        // The lowest flagged byte is the first to escape.
                        assert_eq!(m.trailing_zeros() / 8, pos as u32, "{w:?}");
                    }
                }
            }
        }
        assert_eq!(escape_mask(u64::from_le_bytes(*b"plain ok")), 0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_sixteen_byte_test_flags_exactly_the_bytes_to_escape() {
        for c in 0..=255u8 {
            for pos in 0..16 {
                for fill in [b'a', b'~', 0x20, 0x7f] {
                    let mut w = [fill; 16];
                    w[pos] = c;
                    for (ascii, m) in [
                        (true, flagged16::<true>(&w)),
                        (false, flagged16::<false>(&w)),
                    ] {
                        let want: u32 = (0..16)
                            .filter(|&k| needs_escape(w[k]) || (ascii && w[k] >= 0x80))
                            .map(|k| 1 << k)
                            .sum();
                        assert_eq!(m, want, "{c:#x} at {pos} in {fill:#x}, ascii {ascii}");
                    }
                }
            }
        }
    }

    #[test]
    fn pieces_join_into_the_whole() {
        let mut x = 7u64;
        let text: String = (0..300_000)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                match (x >> 40) % 5 {
                    0 => '"',
                    1 => '\u{1}',
                    2 => 'é',
                    _ => char::from(b'a' + (i % 26) as u8),
                }
            })
            .collect();
        let binary: Vec<u8> = (0..200_001u32).map(|i| (i * 7 + i / 255) as u8).collect();
        for full in [1, 1000, 1 << 20] {
            let (mut whole, mut out, mut got) = (Vec::new(), Vec::new(), Vec::new());
            push_field(&mut whole, "value", text.as_bytes());
            push_field(&mut whole, "value", &binary);
            let mut spill = |o: &mut Vec<u8>| {
                assert!(o.len() >= full);
                got.append(o);
            };
            push_field_in_pieces(&mut out, "value", text.as_bytes(), full, &mut spill);
            push_field_in_pieces(&mut out, "value", &binary, full, &mut spill);
            got.append(&mut out);
            assert!(got == whole, "full {full}");
        }
    }

    #[test]
    fn a_field_is_written_as_serde_json_writes_it_on_every_path() {
        // Plain ASCII, then at every position one byte that is not: an
        // escape, a control character, UTF-8, and bytes that are not UTF-8
        // (base64).
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for len in 0..40 {
            let base: Vec<u8> = (0..len).map(|i| b' ' + (i * 7 % 95) as u8).collect();
            let base: Vec<u8> = base
                .into_iter()
                .map(|c| if c == b'"' || c == b'\\' { b'x' } else { c })
                .collect();
            cases.push(base.clone());
            for pos in 0..len {
                for odd in [
                    &b"\""[..],
                    b"\\",
                    b"\n",
                    b"\x7f",
                    b"\x01",
                    "é".as_bytes(),
                    b"\xff",
                ] {
                    let mut t = base.clone();
                    t.splice(pos..pos + 1, odd.iter().copied());
                    cases.push(t);
                }
            }
        }
        written_as_serde_json_writes_it("key", &cases);
    }

    /// Each of `cases` pushed as field `name` reads exactly as serde_json
    /// writes the text, or base64 under `name_base64`.
    fn written_as_serde_json_writes_it(name: &str, cases: &[Vec<u8>]) {
        for b in cases {
            let mut v = b"{\"a\":1".to_vec();
            push_field(&mut v, name, b);
            v.push(b'}');
            let want = match std::str::from_utf8(b) {
                Ok(s) => format!(
                    "{{\"a\":1,\"{name}\":{}}}",
                    serde_json::to_string(s).unwrap()
                ),
                Err(_) => format!("{{\"a\":1,\"{name}_base64\":\"{}\"}}", STANDARD.encode(b)),
            };
            assert!(v == want.as_bytes(), "{:?}", &b[..b.len().min(80)]);
        }
    }

    #[test]
    fn a_field_with_two_odd_bytes_is_written_as_serde_json_writes_it() {
        // The one-pass path escapes ASCII until the first byte that is not,
        // then checks the rest as UTF-8 and either goes on or takes it all
        // back for base64: a second odd byte after the first, anywhere,
        // and values either side of the size that path takes.
        let odd: [&[u8]; 6] = [
            b"\"",
            b"\x01",
            "é".as_bytes(),
            "😀".as_bytes(),
            b"\xff",
            b"\xc3",
        ];
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for len in [2usize, 9, 17, 33] {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            for p in 0..len {
                for q in p + 1..len {
                    for a in odd {
                        for b in odd {
                            let mut t = base.clone();
                            t.splice(q..q + 1, b.iter().copied());
                            t.splice(p..p + 1, a.iter().copied());
                            cases.push(t);
                        }
                    }
                }
            }
        }
        for len in [PIECE - 1, PIECE, PIECE + 1] {
            for tail in odd {
                let mut t = b"\"q\" ".repeat(len / 4);
                t.resize(len - tail.len(), b'z');
                t.extend_from_slice(tail);
                cases.push(t);
            }
        }
        written_as_serde_json_writes_it("value", &cases);
    }

    #[test]
    fn text_or_base64() {
        let mut v = b"{\"a\":1".to_vec();
        push_field(&mut v, "key", b"he\"llo");
        push_field(&mut v, "value", &[0xff, 0x00, 0x01]);
        v.push(b'}');
        let j: serde_json::Value = serde_json::from_slice(&v).unwrap();
        assert_eq!(j["key"], "he\"llo");
        assert_eq!(
            decode_base64(j["value_base64"].as_str().unwrap()).unwrap(),
            vec![0xff, 0x00, 0x01]
        );
    }
}
