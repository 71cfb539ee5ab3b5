//! The registry's one error type, and what each error means to an HTTP client.

use records::{Problem, StationCode};

/// Everything that can go wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQLite register failed.
    #[error("register database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The register file was written by a newer urna.
    #[error(
        "the register database has schema version {found}, newer than the {supported} this urna understands; upgrade urna"
    )]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this code knows.
        supported: i64,
    },
    /// A stored row that does not read back: the database was edited by hand or is damaged.
    #[error("register database holds an unreadable row: {0}")]
    Corrupt(String),
    /// A background task died or a lock was poisoned by a panic elsewhere.
    #[error("internal task failed: {0}")]
    Task(String),
    /// The configuration is not acceptable.
    #[error("registry config: {0}")]
    Config(String),
    /// No station with this code is enrolled.
    #[error("station {0} is not enrolled at this registry")]
    UnknownStation(String),
    /// Enrolling a code that already has another key.
    #[error(
        "station {code} is already enrolled with another key (fingerprint {enrolled}); a station changes keys by rotation (urna rotate-key)"
    )]
    KeyMismatch {
        /// The station.
        code: StationCode,
        /// Fingerprint of the key already enrolled.
        enrolled: String,
    },
    /// A key that must never be trusted.
    #[error("station key refused: {0}")]
    BadKey(#[from] records::signing::KeyError),
    /// A different event under a seq the registry already holds.
    #[error("fork at seq {seq}: a different event under a seq already accepted")]
    Fork {
        /// The seq.
        seq: u64,
        /// Where the registry's copy ends.
        acknowledged: u64,
    },
    /// A batch broke the chain; the events before the break are stored.
    #[error("chain broken at seq {seq}: {problem}")]
    Chain {
        /// Where.
        seq: u64,
        /// What.
        problem: Problem,
        /// Where the registry's copy ends now.
        acknowledged: u64,
    },
    /// An admin's enrolment step that cannot be done (unknown fingerprint, a revoked key …).
    #[error("{0}")]
    Enrolment(String),
    /// A key rotation statement refused. `code` is the API's error code: `bad_request` (not a
    /// statement), `rotation_conflict` (it contradicts what the registry holds), or a refusal of
    /// the signer (`bad_signature`, `unknown_key`, `not_approved`, `revoked`, `key_replaced`,
    /// `wrong_station`).
    #[error("key rotation refused: {message}")]
    Rotation {
        /// The API's error code.
        code: &'static str,
        /// For people: Polish, then English.
        message: String,
    },
    /// The request itself is unusable.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No such thing, or not one this caller may see (the two are not told apart).
    #[error("{0}")]
    NotFound(String),
    /// The caller may see it but not do this (e.g. acknowledge another department's mail).
    #[error("{0}")]
    Forbidden(String),
    /// Not possible in the thing's present state (e.g. acknowledging a letter still held).
    #[error("{0}")]
    Conflict(String),
    /// The registry's own signing key cannot be used.
    #[error("registry key: {0}")]
    RegistryKey(String),
    /// The listener failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
