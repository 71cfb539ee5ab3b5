//! urna's registry office server: it receives every station's events, verifies them with
//! `records`, keeps the register of incoming correspondence, notifies clerks and answers residents.
//!
//! - [`registry`] — [`Registry`]: enrolment, ingest of pushes (verify, store, project), queries,
//!   receipt checks; the one place that decides what is accepted;
//! - [`store`] — [`RegisterStore`], the storage interface everything above goes through;
//! - [`sqlite`] — [`SqliteStore`], the register in one SQLite file;
//! - [`projection`] — what events mean for an intake's row and timeline, for the open
//!   device alerts, and for what an urn collection's bag should hold (pure);
//! - [`config`] — [`RegistryConfig`]: categories and the departments they go to;
//! - [`notify`] — [`Notice`], the live updates clerk pages listen to;
//! - [`http`] — [`app`] and [`serve`]: the JSON API, the live stream, the page routes;
//! - [`request_auth`] — [`request_auth::Signed`]: the station signatures on requests, checked;
//! - [`pages`] — the server-rendered HTML (clerk, intake, resident status);
//! - [`error`] — [`Error`], the crate's one error type.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use registry::{Registry, RegistryConfig};
//! let registry = Registry::open("var/registry.sqlite".as_ref(), RegistryConfig::demo())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! registry::serve(listener, registry, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod error;
pub mod http;
pub mod notify;
pub mod pages;
pub mod projection;
pub mod registry;
pub mod request_auth;
pub mod sqlite;
pub mod store;

pub use config::{CategoryConfig, RegistryConfig, ServerConfig};
pub use error::{Error, Result};
pub use http::{AppState, app, serve};
pub use notify::Notice;
pub use registry::Registry;
pub use sqlite::SqliteStore;
pub use store::{
    Alarm, IntakeRecord, KeyState, RegisterStore, RotationRecord, StationKeyRecord, StationRecord,
};
