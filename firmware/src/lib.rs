//! urna's urn logic over embedded-hal 1.0 traits: input debouncing, the door state machine,
//! envelope counting on the slot beam, lamp and lock outputs with safe fallbacks.
//!
//! Nothing is here yet: this logic is built with the "Field inputs" issue. The crate exists now
//! so that the workspace has its final shape and the `no_std` build is checked from the start.
#![no_std]
#![deny(unsafe_code, missing_docs)]
