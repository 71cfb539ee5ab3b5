//! The urna station: the daemon on each urn's and mailroom counter's Raspberry Pi.
//!
//! - [`custody_log`] — appending events: numbered, chained, signed, committed before any promise;
//! - [`log_store`] — the log's SQLite file: safe opening, schema, reading back, verification;
//! - [`checkpoint`] — the verified tip kept beside the log, which also reveals rollbacks;
//! - [`keys`] — the station's signing key on disk;
//! - [`label`] — envelope labels and receipts rendered to 1-bit rasters;
//! - [`template`] — label templates: the format, checked loading, rendering with fields;
//! - [`printer`] — printer languages (ESC/POS, ZPL, Brother QL) and the links to printers;
//! - [`devices`] — the hardware boundary: device traits and simulated backends;
//! - [`config`] — `station.toml`, checked strictly at start-up;
//! - [`clock`] — wall-clock readings and whether to trust them;
//! - [`hold_clock`] — time that certainly passed, which sanitising holds are judged by;
//! - [`shared_log`] — the log shared between a workflow and the sync;
//! - [`scanned`] — what a scanned code is (label, receipt, badge, form reference);
//! - [`workflow`], [`kiosk`], [`mailroom`] — what the station does with inputs;
//! - [`sync`] — pushing the log to the registry;
//! - [`web`], [`pages`] — the station's pages, and the simulation control API;
//! - [`runtime`] — one running station; [`shutdown`] — stopping it;
//! - [`doctor`] — `urna doctor`'s checks of a station's devices and dependencies;
//! - [`error`] — the station's one error type.

pub mod alerts_feed;
pub mod check_in;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod custody_log;
pub mod devices;
pub mod doctor;
pub mod error;
pub mod forwarding;
pub mod hold_clock;
pub mod keys;
pub mod kiosk;
pub mod kiosk_text;
pub mod label;
pub mod log_store;
pub mod mailroom;
pub mod pages;
pub mod printer;
pub mod printing;
pub mod runtime;
pub mod scanned;
pub mod shared_log;
pub mod shutdown;
pub mod staff;
pub mod sync;
pub mod template;
pub mod urn_fill;
pub mod web;
pub mod workflow;

pub use custody_log::{Appended, CustodyLog, Entry};
pub use error::{Error, Result};
pub use keys::StationKey;
pub use log_store::{LogStore, StoredEvent};
