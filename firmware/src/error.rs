//! The crate's one error type, generic over the pin's own error (as embedded-hal drivers do).

use core::fmt;

/// An error from a pin-owning part of this crate ([`Debouncer`](crate::Debouncer),
/// [`SafeOutput`](crate::SafeOutput)).
///
/// The logic itself cannot fail; only the pins it drives can. `E` is the pin's error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    /// Reading or driving the pin failed; the HAL's error is inside.
    Pin(E),
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Pin(e) => write!(f, "pin error: {e:?}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}
