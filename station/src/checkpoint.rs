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
pub fn store(db: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let path = path_for(db);
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
}
