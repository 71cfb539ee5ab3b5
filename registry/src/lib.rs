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
//! - [`http`] — [`app`] and [`serve`]: the JSON API, the live stream, the page routes, within
//!   the request timeout and concurrency limit of `limits`; [`openapi`] — their description,
//!   `/openapi.json`;
//! - [`request_auth`] — [`request_auth::Signed`]: the station signatures on requests, checked;
//! - `key_rings` — each station's trusted keys as a checked ring, built again only when they change;
//! - [`pages`] — the server-rendered HTML (clerk, intake, resident status);
//! - [`rate_limit`] — the resident status checks' allowance per client, against enumeration;
//! - [`clerks`] — clerk accounts, sessions and what a clerk may see ([`Scope`]);
//! - [`auth`] — sign-in and sign-out pages, the session cookie, who is asking;
//! - [`search`] — the search query clerks send, checked, and the CSV export;
//! - [`own_key`] — the registry's own key, which signs its events (acknowledgements);
//! - [`outbox`] — the durable queue of notifications to departments, its [`outbox::OutboxStore`]
//!   and its retry policy; [`notifier`] — the worker that delivers them, through [`webhook`]
//!   (signed JSON) and [`mail`] (SMTP); `/api/deliveries` and `/admin/deliveries` show them;
//! - [`reports`] — `/reports`: deposits per urn and day, hold durations (SVG), the daily
//!   figures (table, CSV); [`fleet`] — `/admin/stations`, `/api/fleet`: each station's health,
//!   and the watcher that notices silent ones; [`insight`] — what both read from the store;
//!   [`station_report`] — what stations report about themselves (their log's tip, for the
//!   backlog the fleet view shows);
//! - [`retention`] — `urna registry retention`: removing what the office's archival rules allow;
//! - [`metrics`] — `/metrics`: Prometheus counters and the fleet's health, for the IT admin;
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

pub mod auth;
pub mod clerks;
pub mod config;
mod deliveries;
pub mod error;
pub mod fleet;
mod group_commit;
pub mod http;
pub mod insight;
mod key_rings;
mod limits;
pub mod mail;
pub mod metrics;
pub mod notifier;
pub mod notify;
pub mod openapi;
pub mod outbox;
pub mod own_key;
pub mod pages;
pub mod projection;
pub mod rate_limit;
pub mod registry;
pub mod reports;
pub mod request_auth;
pub mod retention;
pub mod search;
pub mod sqlite;
pub mod station_report;
pub mod store;
pub mod webhook;

pub use clerks::{LoginOutcome, Scope, Session};
pub use config::{CategoryConfig, RegistryConfig, ServerConfig};
pub use error::{Error, Result};
pub use http::{AppState, app, serve};
pub use notify::Notice;
pub use own_key::RegistryKey;
pub use registry::{Acknowledgement, Registry};
pub use sqlite::SqliteStore;
pub use store::{
    Alarm, ClerkRecord, ClerkRole, IntakeFilter, IntakeRecord, KeyState, RegisterStore,
    RotationRecord, StationKeyRecord, StationRecord,
};
