//! The watched folder: a document scanner at the mailroom drops page images (PNG, JPEG, WebP,
//! TIFF) into it; each page's QR code becomes a scan, as if read by the hand scanner.
//!
//! The folder is polled rather than watched with inotify: scanners often write to a network
//! share, where inotify sees nothing. A file is taken only once its size and modification time
//! have stayed the same for one poll, so a page still being written is not read half-way. Each
//! page is then moved to `read/` or, when no code could be read, to `unreadable/` beside a note
//! of why, so that nothing is read twice and staff can see what failed.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::ConfigError;
use crate::devices::Input;
use crate::vision::decode::{Decoder, Effort};
use crate::vision::load::load_image;

/// The `[vision.folder]` section of `station.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderConfig {
    /// The folder the scanner writes to.
    pub path: PathBuf,
    /// How often to look for new pages, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
}

fn default_poll_ms() -> u64 {
    1000
}

impl FolderConfig {
    /// The defaults, for the folder at `path`.
    pub fn new(path: impl Into<PathBuf>) -> FolderConfig {
        FolderConfig {
            path: path.into(),
            poll_ms: default_poll_ms(),
        }
    }

    /// Checks ranges, naming the key that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(50..=60_000).contains(&self.poll_ms) {
            return Err(ConfigError {
                key: "vision.folder.poll_ms".to_owned(),
                problem: "must be between 50 and 60000".to_owned(),
            });
        }
        Ok(())
    }
}

/// Where pages go once read.
pub const READ_DIR: &str = "read";
/// Where pages go when no code could be read from them.
pub const UNREADABLE_DIR: &str = "unreadable";

fn is_page(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg" | "webp" | "tif" | "tiff"))
}

/// The pages in the folder now, with their size and modification time.
fn listing(dir: &Path) -> std::io::Result<HashMap<PathBuf, (u64, Option<SystemTime>)>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_page(&path)
            && let Ok(meta) = std::fs::metadata(&path)
        {
            out.insert(path, (meta.len(), meta.modified().ok()));
        }
    }
    Ok(out)
}

/// Reads one page: its code's text, or why not (Polish, then English).
pub fn read_page(path: &Path, decoder: &Decoder) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > decoder.limits.max_bytes as u64 {
        return Err(format!(
            "Plik ma {} bajtów, dopuszczalne {} / The file has {} bytes, at most {} allowed",
            meta.len(),
            decoder.limits.max_bytes,
            meta.len(),
            decoder.limits.max_bytes
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let image = load_image(&bytes, &decoder.limits).map_err(|e| e.to_string())?;
    decoder
        .decode(&image, Effort::Thorough, None)
        .map(|code| code.text)
        .map_err(|e| e.to_string())
}

/// Moves `path` into `sub` beside it, keeping its name (with a number added if taken).
fn file_away(path: &Path, sub: &str) -> std::io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new(".")).join(sub);
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut target = dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{n}-{name}"));
        n += 1;
    }
    std::fs::rename(path, &target)?;
    Ok(target)
}

/// Watches the folder until `shutdown` resolves, sending each page's code as
/// [`Input::Scanned`]. A folder that is missing or unreadable is logged and looked at again on
/// the next poll: a network share comes back by itself.
pub async fn run(
    config: FolderConfig,
    inputs: mpsc::Sender<Input>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let poll = Duration::from_millis(config.poll_ms);
    let mut previous: HashMap<PathBuf, (u64, Option<SystemTime>)> = HashMap::new();
    // Pages read but not moved aside (a read-only share): never read again while unchanged.
    let mut stuck: HashMap<PathBuf, (u64, Option<SystemTime>)> = HashMap::new();
    let mut folder_ok = true;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(poll) => {}
        }
        let dir = config.path.clone();
        let now = match tokio::task::spawn_blocking(move || listing(&dir)).await {
            Ok(Ok(now)) => {
                if !folder_ok {
                    tracing::info!(folder = %config.path.display(), "image folder readable again");
                    folder_ok = true;
                }
                now
            }
            Ok(Err(e)) => {
                if folder_ok {
                    tracing::warn!(folder = %config.path.display(), "image folder unreadable: {e}");
                    folder_ok = false;
                }
                continue;
            }
            Err(e) => {
                tracing::error!("image folder listing task failed: {e}");
                continue;
            }
        };
        let mut ready: Vec<PathBuf> = now
            .iter()
            .filter(|(path, stat)| {
                previous.get(*path) == Some(stat) && stuck.get(*path) != Some(stat)
            })
            .map(|(path, _)| path.clone())
            .collect();
        ready.sort();
        previous = now;
        stuck.retain(|path, _| previous.contains_key(path));
        for path in ready {
            let stat = previous.remove(&path);
            let page = path.clone();
            let read = tokio::task::spawn_blocking(move || {
                let result = read_page(&page, &Decoder::default());
                let sub = if result.is_ok() {
                    READ_DIR
                } else {
                    UNREADABLE_DIR
                };
                let moved = file_away(&page, sub);
                if let (Err(why), Ok(moved)) = (&result, &moved) {
                    let _ = std::fs::write(moved.with_extension("txt"), format!("{why}\n"));
                }
                (result, moved)
            })
            .await;
            if let (Ok((_, Err(_))), Some(stat)) = (&read, stat) {
                stuck.insert(path.clone(), stat);
            }
            match read {
                Ok((Ok(text), moved)) => {
                    if let Err(e) = moved {
                        tracing::error!(page = %path.display(), "cannot move the page aside: {e}");
                    }
                    tracing::info!(page = %path.display(), "code read from a scanned page");
                    if inputs.send(Input::Scanned(text)).await.is_err() {
                        return;
                    }
                }
                Ok((Err(why), moved)) => {
                    tracing::warn!(page = %path.display(), "no code read from a scanned page: {why}");
                    if let Err(e) = moved {
                        tracing::error!(page = %path.display(), "cannot move the page aside: {e}");
                    }
                }
                Err(e) => tracing::error!(page = %path.display(), "page reading task failed: {e}"),
            }
        }
    }
}
