//! The station's one error type. Messages name the file and say what to do; they never carry
//! key material or the contents of a key file.

use std::path::PathBuf;

use records::ChainFault;

/// Everything that can go wrong in the station.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A key file that others may read.
    #[error(
        "key file {} can be read by group or others (mode {mode:04o}); make it private: chmod 600 {}",
        .path.display(), .path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `keygen` never overwrites a key: a station's identity would be lost.
    #[error("key file {} already exists; urna never overwrites a key (choose another --out)", .path.display())]
    KeyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// A key file that is not an Ed25519 private key in PKCS#8 PEM.
    #[error("key file {} is not an urna station key (expected an Ed25519 private key, PKCS#8 PEM)", .path.display())]
    KeyFormat {
        /// The key file.
        path: PathBuf,
    },
    /// The station cannot start as configured (a template that does not load or does not fit
    /// its printer, hardware this build cannot drive).
    #[error("the station cannot start as configured: {0}")]
    Setup(String),
    /// The system's random source failed.
    #[error("no randomness available from the operating system")]
    Randomness,
    /// Not an SQLite database, or not one of urna's.
    #[error("{} is not an urna custody log: {detail}", .path.display())]
    NotALog {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Written by a newer urna; opening it could lose data.
    #[error(
        "{} was written by a newer urna (schema {found}; this urna knows schema {known}); install the newer urna",
        .path.display()
    )]
    SchemaTooNew {
        /// The file.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// SQLite's integrity check failed.
    #[error("{} is damaged: {detail}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What `quick_check` or SQLite said.
        detail: String,
    },
    /// SQLite kept another journal mode than WAL.
    #[error("{}: journal mode is {mode}, not wal (is the file on a read-only or network file system?)", .path.display())]
    JournalMode {
        /// The file.
        path: PathBuf,
        /// The mode SQLite reported.
        mode: String,
    },
    /// The log belongs to another station.
    #[error("{} is the custody log of station {found}, not of station {expected}", .path.display())]
    WrongStation {
        /// The file.
        path: PathBuf,
        /// Station recorded in the log.
        found: String,
        /// Station this process is.
        expected: String,
    },
    /// The chain of events does not verify.
    #[error("{} fails verification at {fault}", .path.display())]
    Chain {
        /// The file.
        path: PathBuf,
        /// What is wrong, and at which seq.
        fault: ChainFault,
    },
    /// A table column disagrees with the signed event it indexes.
    #[error("{} fails verification at seq {seq}: column {column} does not match the signed event", .path.display())]
    RowMismatch {
        /// The file.
        path: PathBuf,
        /// The row.
        seq: u64,
        /// The column.
        column: &'static str,
    },
    /// The log is older than a checkpoint taken from it: an old copy was put back, or events were cut off.
    #[error("{} was rolled back: {detail}", .path.display())]
    RolledBack {
        /// The file.
        path: PathBuf,
        /// What the checkpoint says against the log.
        detail: String,
    },
    /// The registry acknowledged more than this log holds.
    #[error("acknowledged seq {acknowledged} is beyond the log's last seq {last}")]
    AckBeyondTip {
        /// What was acknowledged.
        acknowledged: u64,
        /// The log's last seq.
        last: u64,
    },
    /// Another process appended to the log behind this one's back.
    #[error("{}: the log changed under this process (expected last seq {expected}, found {found}); is another station process running?", .path.display())]
    ConcurrentWriter {
        /// The file.
        path: PathBuf,
        /// The seq this process last wrote.
        expected: u64,
        /// The seq in the file.
        found: u64,
    },
    /// An intake id could not be made (the station's counter is exhausted).
    #[error("cannot issue an intake id: {0}")]
    IntakeId(#[from] records::IdError),
    /// Any other SQLite failure.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Result with the station's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
