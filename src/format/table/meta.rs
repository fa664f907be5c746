//! The metaindex block and the filter block it names.
//!
//! ```text
//! metaindex:  block of name → handle, names strictly ascending bytewise
//!             ("filter.<policy>" for LevelDB's filter)
//! filter:     filter* ++ offsets: fixed32* ++ array_offset: fixed32 ++ base_lg: u8
//! ```

use super::BlockHandle;
use crate::format::block::Block;
use crate::format::coding::read_fixed32;

/// A metaindex block: names in strictly ascending bytewise order, each
/// mapping to a block handle. Returns the entries.
pub fn parse_metaindex(contents: &[u8]) -> Result<Vec<(Vec<u8>, BlockHandle)>, String> {
    let block = Block::new(contents).map_err(|e| e.to_string())?;
    let mut it = block.iter();
    let mut out: Vec<(Vec<u8>, BlockHandle)> = Vec::new();
    while let Some(r) = it.next() {
        let (k, v) = r.map_err(|e| e.to_string())?;
        if out.last().is_some_and(|(p, _)| p.as_slice() >= k) {
            return Err(format!("metaindex entry {} is out of order", out.len()));
        }
        let h = BlockHandle::decode_exact(v)
            .ok_or_else(|| format!("metaindex entry {} is not a block handle", out.len()))?;
        out.push((k.to_vec(), h));
    }
    Ok(out)
}

/// Whether `contents` has the layout of LevelDB's filter block:
/// `filter* ++ offsets: fixed32* ++ array_offset: fixed32 ++ base_lg: u8`.
pub fn is_filter_block(contents: &[u8]) -> bool {
    let Some(at) = contents.len().checked_sub(5) else {
        return false;
    };
    let (Some(&base_lg), Some(array)) = (contents.last(), read_fixed32(contents, at)) else {
        return false;
    };
    // An array offset past the trailer has no offsets to hold.
    let Some((array, offsets)) = usize::try_from(array)
        .ok()
        .and_then(|a| Some((a, contents.get(a..at)?)))
    else {
        return false;
    };
    if base_lg == 0 || base_lg > 30 || offsets.len() % 4 != 0 {
        return false;
    }
    let mut prev = 0u32;
    offsets.chunks_exact(4).all(|b| {
        let Some(o) = read_fixed32(b, 0) else {
            return false;
        };
        let ok = o >= prev && usize::try_from(o).is_ok_and(|o| o <= array);
        prev = o;
        ok
    })
}
