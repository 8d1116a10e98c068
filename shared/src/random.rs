//! Randomness as a dependency, like time (`clock`): the delivery engine draws its jitter and
//! lease tokens from a `Random`, so a simulation can replay a run from one seed. Secrets, API
//! keys and ids stay on the OS source (`ids`): nothing replays those.

use std::sync::Arc;

pub trait Random: Send + Sync {
    fn next_u64(&self) -> u64;

    /// 128 random bits: one draw from the source (a token costs one system call, not two).
    fn next_u128(&self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// A number in [0, 1).
    fn unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The operating system's CSPRNG, drawn 512 bytes at a time per thread: a delivery's lease
/// token then costs no system call of its own (a getrandom call cost about half a
/// microsecond, one per delivery, in the throughput bench's profile).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

const POOL: usize = 512;

thread_local! {
    /// Bytes from the OS not handed out yet: `(bytes, how many are used)`.
    static DRAWN: std::cell::RefCell<([u8; POOL], usize)> =
        const { std::cell::RefCell::new(([0; POOL], POOL)) };
}

/// `N` bytes from this thread's pool, refilled from the OS when it runs short. Each byte is
/// handed out once.
fn pooled<const N: usize>() -> [u8; N] {
    const { assert!(N <= POOL) };
    DRAWN.with(|drawn| {
        let (bytes, used) = &mut *drawn.borrow_mut();
        if *used + N > POOL {
            *bytes = crate::ids::random_bytes::<POOL>();
            *used = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&bytes[*used..*used + N]);
        // Not left behind in the pool once handed out.
        bytes[*used..*used + N].fill(0);
        *used += N;
        out
    })
}

impl Random for OsRandom {
    fn next_u64(&self) -> u64 {
        u64::from_be_bytes(pooled::<8>())
    }

    fn next_u128(&self) -> u128 {
        u128::from_be_bytes(pooled::<16>())
    }
}

/// The OS source, shared: what every deployed function uses.
pub fn os() -> Arc<dyn Random> {
    Arc::new(OsRandom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_draws_differ_across_refills() {
        // 100 tokens span several refills of the 512-byte pool; none repeats.
        let tokens: std::collections::HashSet<u128> =
            (0..100).map(|_| OsRandom.next_u128()).collect();
        assert_eq!(tokens.len(), 100);
    }

    #[test]
    fn unit_stays_in_range() {
        for _ in 0..1000 {
            let u = OsRandom.unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }
}
