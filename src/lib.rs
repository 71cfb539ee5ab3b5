//! The `urna` command's library side: what the command runs that tests also need.
//!
//! - [`demo`] — a registry, an urn kiosk and a mailroom station in one process, simulated.

pub mod demo;
