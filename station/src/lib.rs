//! The urna station: the daemon on each urn's and mailroom counter's Raspberry Pi.
//!
//! - [`custody_log`] — appending events: numbered, chained, signed, committed before any promise;
//! - [`log_store`] — the log's SQLite file: safe opening, schema, reading back, verification;
//! - [`checkpoint`] — the verified tip kept beside the log, which also reveals rollbacks;
//! - [`keys`] — the station's signing key on disk;
//! - [`error`] — the station's one error type.

pub mod checkpoint;
pub mod custody_log;
pub mod error;
pub mod keys;
pub mod log_store;

pub use custody_log::{Appended, CustodyLog, Entry};
pub use error::{Error, Result};
pub use keys::StationKey;
pub use log_store::{LogStore, StoredEvent};
