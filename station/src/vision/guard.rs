//! Runs a decoder so that a panic inside it (rqrr 0.11 overflows on some photos) becomes an
//! error for that one picture instead of taking the station down.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// A decoder panicked on a picture; what it said, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked(pub String);

/// Runs `f`, turning a panic into [`Panicked`].
///
/// `AssertUnwindSafe` is sound here because the closures given to it own or borrow only the
/// picture being decoded and what they build from it, all dropped after a panic.
pub fn run<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        Panicked(message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_passes_through() {
        assert_eq!(run(|| 7), Ok(7));
    }

    #[test]
    #[allow(clippy::panic)]
    fn a_panic_becomes_an_error_with_its_message() {
        let r: Result<(), Panicked> = run(|| panic!("overflow at {}", 3));
        assert_eq!(r, Err(Panicked("overflow at 3".to_owned())));
    }
}
