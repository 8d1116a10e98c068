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

/// The operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn next_u64(&self) -> u64 {
        u64::from_be_bytes(crate::ids::random_bytes::<8>())
    }

    fn next_u128(&self) -> u128 {
        u128::from_be_bytes(crate::ids::random_bytes::<16>())
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
    fn unit_stays_in_range() {
        for _ in 0..1000 {
            let u = OsRandom.unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }
}
