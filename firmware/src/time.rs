//! Time as the caller hands it in: milliseconds on a monotonic counter that this crate never reads itself.

/// A point in time, in milliseconds since an epoch the caller chooses (usually boot).
///
/// The caller's clock must be monotonic (on the Pi: `CLOCK_MONOTONIC`, never the wall clock, which NTP
/// may step). Arithmetic saturates: an `Instant` earlier than another is treated as "no time passed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The instant `ms` milliseconds after the caller's epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the caller's epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`; zero if `earlier` is in fact later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    /// `self` plus `d`, stopping at the end of time instead of wrapping.
    pub const fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

/// A length of time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// `s` seconds (saturating).
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1000))
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let a = Instant::from_millis(10);
        let b = Instant::from_millis(25);
        assert_eq!(b.saturating_since(a), Duration::from_millis(15));
        assert_eq!(a.saturating_since(b), Duration::ZERO);
        assert_eq!(
            Instant::from_millis(u64::MAX - 1).saturating_add(Duration::from_secs(5)),
            Instant::from_millis(u64::MAX)
        );
        assert_eq!(Duration::from_secs(2).as_millis(), 2000);
    }
}
