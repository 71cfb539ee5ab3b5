//! The `urna` command's library side: what the command runs that tests also need.
//!
//! - [`config_reference`] — the configuration reference, generated from the config types;
//! - [`demo`] — a registry, an urn kiosk and a mailroom station in one process, simulated;
//! - [`heap`] — how the registry's heap gives memory back to the system;
//! - [`serve`] — one station, or the registry, from its config file: the production services;
//! - [`systemd`] — their notifications to systemd: ready, status, watchdog, stopping.

pub mod config_reference;
pub mod demo;
pub mod heap;
pub mod serve;
pub mod systemd;
