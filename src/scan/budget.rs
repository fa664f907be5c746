//! Byte budgets shared by every thread of a run: what bounds memory when
//! the number of threads does not (a 64-core host scans 64 tables at once).

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// A counting semaphore over bytes. A claim larger than the whole budget
/// takes all of it, so it runs alone instead of never.
pub struct Budget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Bytes held from a [`Budget`], given back on drop.
pub struct Permit {
    budget: &'static Budget,
    n: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(self.n);
        self.budget.freed.notify_all();
    }
}

impl Budget {
    pub fn new(total: u64) -> Self {
        Budget {
            total: total.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Claim `want` bytes, waiting until they are free. While it waits, the
    /// calling pool thread runs queued pool work: the holders may be jobs
    /// queued on this very thread (with `--jobs 1`, always).
    ///
    /// Only call this from a thread that holds no permit of this budget
    /// (a thread waiting on itself never wakes): claim before spawning the
    /// work that needs the bytes, never inside pool work.
    pub fn acquire(&'static self, want: u64) -> Permit {
        let n = want.min(self.total);
        loop {
            {
                let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
                if *used + n <= self.total {
                    *used += n;
                    return Permit { budget: self, n };
                }
            }
            if matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                continue;
            }
            let used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            if *used + n <= self.total {
                continue;
            }
            // Woken by a release; the timeout only lets new pool work that
            // this thread could help with be picked up.
            let _ = self
                .freed
                .wait_timeout(used, Duration::from_millis(20))
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Default for [`tables`]: LevelDB tables are ~2 MiB, so this is ~128 of
/// them in flight, more than any pool here keeps busy.
pub const TABLE_BUDGET: u64 = 256 << 20;

/// Bytes from an environment variable, for the tests only: they exercise
/// the budgets with small files instead of gigabytes.
fn from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The bytes of whole tables held in memory at once, across all threads
/// (`LDBSALVAGE_TABLE_BUDGET` overrides it, for tests).
pub fn tables() -> &'static Budget {
    static B: OnceLock<Budget> = OnceLock::new();
    B.get_or_init(|| Budget::new(from_env("LDBSALVAGE_TABLE_BUDGET", TABLE_BUDGET)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_waits_for_bytes_and_an_oversized_one_runs_alone() {
        let b: &'static Budget = Box::leak(Box::new(Budget::new(100)));
        let p = b.acquire(60);
        let q = b.acquire(40);
        assert_eq!(*b.used.lock().unwrap(), 100);
        let waiter = std::thread::spawn(move || {
            let big = b.acquire(1000);
            assert_eq!(big.n, 100);
        });
        drop(p);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "took bytes that were held");
        drop(q);
        waiter.join().unwrap();
        assert_eq!(*b.used.lock().unwrap(), 0);
    }
}
