//! The checkpoint beside the custody log (`<log>.checkpoint`): the last verified seq and hash and
//! the registry's acknowledged seq, kept outside the database so that an old copy of the database
//! put back in its place (a rollback) is noticed when the log is next opened.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use records::{ChainTip, Hash};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io};
use crate::keys::sync_parent_dir;

/// What the checkpoint file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Last verified seq.
    pub seq: u64,
    /// Its chain hash.
    pub hash: Hash,
    /// Highest seq the registry had acknowledged.
    pub acknowledged: u64,
}

impl Checkpoint {
    /// The verified tip this checkpoint names.
    pub fn tip(&self) -> ChainTip {
        ChainTip {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

/// Where the checkpoint of the log at `db` lives.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

/// Reads the checkpoint of the log at `db`; `None` when there is none yet.
pub fn load(db: &Path) -> Result<Option<Checkpoint>> {
    let path = path_for(db);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| Error::NotALog {
            path: path.clone(),
            detail: format!(
                "checkpoint file is unreadable ({e}); move it away to verify from seq 1"
            ),
        })
}

/// Replaces the checkpoint atomically and durably (write, fsync, rename, fsync the directory).
/// The first time in a process, it first clears the temporary files that crashed writers left
/// ([`remove_stray_temps`]); a log's opening writes its checkpoint, so that is at start.
pub fn store(db: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let path = path_for(db);
    static SWEPT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let first = SWEPT
        .lock()
        .map(|mut swept| {
            let first = !swept.contains(&path);
            if first {
                swept.push(path.clone());
            }
            first
        })
        .unwrap_or(false);
    if first {
        // A leftover costs a few bytes; failing to sweep must not stop the log from opening.
        if let Err(e) = remove_stray_temps(db) {
            tracing::warn!("checkpoint: leftover temporary files not cleared: {e}");
        }
    }
    // A name of its own per write: two handles on one log in one process (the station and a
    // backup, or a test opening a second copy) writing `.tmp` at once would rename each other's
    // half-written file, or find it gone.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp_name);
    let body = serde_json::to_vec(checkpoint).map_err(|e| Error::NotALog {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(&body).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_parent_dir(&path)
}

/// The process id in the name of a temporary file [`store`] writes for the checkpoint named
/// `checkpoint_name` (`<name>.<pid>.<n>.tmp`); `None` for any other name.
fn temp_writer(file_name: &str, checkpoint_name: &str) -> Option<u32> {
    let middle = file_name
        .strip_prefix(checkpoint_name)?
        .strip_prefix('.')?
        .strip_suffix(".tmp")?;
    let (pid, n) = middle.split_once('.')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n)).then(|| pid.parse().ok())?
}

/// The program a process runs, without the mark Linux adds once its file was replaced (an
/// upgrade under a running station).
fn program(pid: &str) -> std::io::Result<PathBuf> {
    let exe = fs::read_link(format!("/proc/{pid}/exe"))?;
    Ok(
        match exe.to_str().and_then(|e| e.strip_suffix(" (deleted)")) {
            Some(kept) => PathBuf::from(kept),
            None => exe,
        },
    )
}

/// Whether process `pid` may still be writing a temporary file of its own: this process (another
/// handle on the same log writes under the same pid, which is why the names also count), or a
/// live process running this program (`urna log verify` beside the station). A process that is
/// gone, or one running another program under a reused pid after a reboot, is not; when that
/// cannot be told (another user's process), it may be.
fn may_be_writing(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match program(&pid.to_string()) {
        Ok(theirs) => program("self").is_ok_and(|ours| ours == theirs),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// Removes the temporary files a writer of the checkpoint of the log at `db` left when it was
/// killed between writing and renaming one, unless their writer may still be at it (see
/// [`may_be_writing`]). Returns what it removed. Other files, and other logs' checkpoints'
/// temporary files, are left alone.
pub fn remove_stray_temps(db: &Path) -> Result<Vec<PathBuf>> {
    let path = path_for(db);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|f| temp_writer(f, name)) else {
            continue;
        };
        if may_be_writing(pid) {
            continue;
        }
        let stray = entry.path();
        match fs::remove_file(&stray) {
            Ok(()) => {
                tracing::info!(
                    "checkpoint: removed {}, left by a writer that is gone",
                    stray.display()
                );
                removed.push(stray);
            }
            // Another opener swept it first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&stray)(e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Two writers of one log's checkpoint in one process never trip over each other's
    /// temporary file, and the file left is one of theirs, whole.
    #[test]
    fn concurrent_stores_of_one_checkpoint_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("custody.db");
        std::thread::scope(|scope| {
            for writer in 0..4u64 {
                let db = &db;
                scope.spawn(move || {
                    for n in 0..200 {
                        let checkpoint = Checkpoint {
                            seq: writer * 1000 + n,
                            hash: Hash([writer as u8; 32]),
                            acknowledged: 0,
                        };
                        store(db, &checkpoint).unwrap();
                    }
                });
            }
        });
        let last = load(&db).unwrap().unwrap();
        assert_eq!(last.hash, Hash([(last.seq / 1000) as u8; 32]));
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    #[test]
    fn only_this_checkpoints_numbered_temporary_files_are_its_writers() {
        let name = "custody.db.checkpoint";
        assert_eq!(
            temp_writer("custody.db.checkpoint.812.3.tmp", name),
            Some(812)
        );
        for other in [
            "custody.db.checkpoint",
            "custody.db.checkpoint.tmp",
            "custody.db.checkpoint.812.tmp",
            "custody.db.checkpoint.812.x.tmp",
            "custody.db.checkpoint..3.tmp",
            "custody.db.checkpoint.812.3.tmp.bak",
            "other.db.checkpoint.812.3.tmp",
            "custody.db.checkpoint.99999999999.3.tmp",
        ] {
            assert_eq!(temp_writer(other, name), None, "{other}");
        }
    }
}
