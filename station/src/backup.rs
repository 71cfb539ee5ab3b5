//! Online backup of the custody log, and its verified restore. The copy is taken with SQLite's
//! backup API, so it is a consistent snapshot even while the station appends, and is verified
//! whole (signatures, hash chain, no gaps) before it is called a backup. Neither direction ever
//! overwrites a file: a log that was lost or damaged is moved away by a person, and kept for the
//! office's records.

use std::path::{Path, PathBuf};
use std::time::Duration;

use records::ChainTip;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::log_store::LogStore;

/// Pages copied per step: small steps let the station's own commits in between, so a backup
/// never holds a deposit up for long.
const PAGES_PER_STEP: std::os::raw::c_int = 256;
/// Pause between steps.
const STEP_PAUSE: Duration = Duration::from_millis(5);

/// What a backup or a restore produced, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The file written.
    pub path: PathBuf,
    /// Its verified tip: the last seq and its hash.
    pub tip: ChainTip,
    /// Up to which seq the registry had acknowledged when the copy was taken.
    pub acknowledged: u64,
    /// The file's size.
    pub bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn refuse_existing(path: &Path, what: &str) -> Result<()> {
    if path.exists() {
        return Err(Error::Setup(format!(
            "{} exists; urna never overwrites {what} (choose another path, or move the file away first)",
            path.display()
        )));
    }
    Ok(())
}

/// Copies `from` (an SQLite file) to `to` through a partial file beside it, made durable and
/// renamed into place only when whole.
fn copy_snapshot(from: &Path, to: &Path) -> Result<()> {
    let source = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(Duration::from_secs(5))?;
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    // A partial file is only ever a failed earlier attempt of this same copy.
    let _ = std::fs::remove_file(&partial);
    {
        let mut target = Connection::open(&partial)?;
        let backup = rusqlite::backup::Backup::new(&source, &mut target)?;
        backup.run_to_completion(PAGES_PER_STEP, STEP_PAUSE, None)?;
    }
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io(&partial))?;
    std::fs::rename(&partial, to).map_err(io(to))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// Verifies the log at `path` whole, against the keys it records.
fn verified(path: &Path) -> Result<Copied> {
    let store = LogStore::open_existing(path)?;
    let keys = store.recorded_keys()?;
    let tip = store.verify(&keys, ChainTip::GENESIS)?;
    let acknowledged = store.acknowledged()?;
    drop(store);
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    Ok(Copied {
        path: path.to_owned(),
        tip,
        acknowledged,
        bytes,
    })
}

/// Backs the custody log at `db` up to `out` (a new file), while the station may be running,
/// and verifies the copy. A copy that does not verify is removed and the error says why.
pub fn backup(db: &Path, out: &Path) -> Result<Copied> {
    refuse_existing(out, "a backup")?;
    // Checked first, so that a wrong --db is named as such rather than as a failed copy.
    drop(LogStore::open_existing(db)?);
    copy_snapshot(db, out)?;
    verified(out).inspect_err(|_| {
        let _ = std::fs::remove_file(out);
    })
}

/// Puts the backup `from` in place as the custody log `db`, after verifying the backup whole.
/// `db` must not exist. Events after the backup's tip that the registry had acknowledged are
/// not in the restored log: [`Copied::acknowledged`] says how far the registry's copy reached.
pub fn restore(from: &Path, db: &Path) -> Result<Copied> {
    refuse_existing(db, "a custody log")?;
    for suffix in ["-wal", "-shm"] {
        let mut stale = db.as_os_str().to_owned();
        stale.push(suffix);
        refuse_existing(Path::new(&stale), "a custody log's journal")?;
    }
    verified(from)?;
    copy_snapshot(from, db)?;
    verified(db)
}
