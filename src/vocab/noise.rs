//! Repeatable pseudo-random bytes for tests (xorshift64): hostile input
//! and filler without a dependency, the same on every run.

/// The next number of the sequence `state` is at (never 0 from a seed
/// other than 0).
pub fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `n` bytes, the low byte of each number from `seed` on.
pub fn bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n).map(|_| next(&mut seed).to_le_bytes()[0]).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeatable_and_not_constant() {
        let a = super::bytes(1000, 7);
        assert_eq!(a, super::bytes(1000, 7));
        assert_ne!(a, super::bytes(1000, 8));
        assert!(a.iter().filter(|&&b| b == a[0]).count() < 50);
    }
}
