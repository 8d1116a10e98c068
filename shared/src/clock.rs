//! Time as a dependency, so tests can pin it.

#[cfg(any(test, feature = "testing"))]
use std::sync::Mutex;
use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Milliseconds are as fine as any stored or shown time needs to be.
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_millisecond(now.millisecond())
            .expect("a millisecond of a valid time is valid")
    }
}

/// A clock that stands still until moved; for tests.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }

    pub fn advance(&self, by: time::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_is_whole_milliseconds() {
        assert_eq!(SystemClock.now().nanosecond() % 1_000_000, 0);
    }
}
