//! The mailroom's staff accounts: badge, name, role and PIN, in `staff.db` beside the custody
//! log, and the PIN check with its lockout. PINs are kept only as Argon2id hashes (PHC strings);
//! a PIN never reaches a log line or an error message.
//!
//! The store is a file of the station's own, not the registry's: a mailroom must let its staff
//! sign in when the network is down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::scanned::MAX_BADGE_CHARS;

/// The file's name inside the station's data directory.
pub const STAFF_FILE: &str = "staff.db";
/// Shortest and longest PIN, in digits.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=12;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS staff (
    badge           TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('staff', 'supervisor')),
    pin_hash        TEXT NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL
);
";

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Collections, check-in, intake, holds, release when the hold is over, forwarding.
    Staff,
    /// All of that, and what needs a second, senior person: releasing a hold early.
    Supervisor,
}

impl StaffRole {
    /// `staff` or `supervisor`, as files and events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Staff => "staff",
            StaffRole::Supervisor => "supervisor",
        }
    }

    fn from_name(name: &str) -> Option<StaffRole> {
        match name {
            "staff" => Some(StaffRole::Staff),
            "supervisor" => Some(StaffRole::Supervisor),
            _ => None,
        }
    }
}

impl std::str::FromStr for StaffRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StaffRole::from_name(s)
            .ok_or_else(|| format!("{s:?} is not a role: use staff or supervisor"))
    }
}

/// A staff member as listed (never with the PIN's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffMember {
    /// The badge's number: what follows the badge prefix in its code.
    pub badge: String,
    /// The name shown on screen and recorded in events.
    pub name: String,
    /// Staff or supervisor.
    pub role: StaffRole,
    /// A disabled account cannot sign in; it is kept, since events name it.
    pub disabled: bool,
}

/// How the PIN check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    /// The right PIN: signed in.
    Accepted(StaffMember),
    /// A wrong PIN; so many tries are left before the lockout.
    Wrong {
        /// Tries left.
        attempts_left: u32,
    },
    /// Too many wrong PINs: no tries until then (unix ms).
    LockedOut {
        /// The end of the lockout.
        until_ms: i64,
    },
    /// No such badge, or a disabled one: told apart only in the station's log, not on screen.
    NotAllowed,
}

/// How many wrong PINs lock a badge, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Wrong PINs in a row before the lockout.
    pub attempts: u32,
    /// How long it lasts.
    pub duration: Duration,
}

/// Why a staff operation failed. Never carries a PIN.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Db {
        /// The staff file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// Input that cannot be an account.
    #[error("{0}")]
    Invalid(String),
    /// Hashing failed (out of memory, or a malformed stored hash).
    #[error("PIN hash: {0}")]
    Hash(String),
}

/// The staff accounts of one station.
#[derive(Debug)]
pub struct StaffStore {
    path: PathBuf,
    conn: Connection,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl StaffStore {
    /// Opens (creating if needed) the staff file at `path`.
    pub fn open(path: &Path) -> Result<StaffStore, StaffError> {
        let db = |source| StaffError::Db {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        restrict_permissions(path);
        Ok(StaffStore {
            path: path.to_owned(),
            conn,
        })
    }

    fn db(&self, source: rusqlite::Error) -> StaffError {
        StaffError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds a staff member; the PIN is hashed here and only the hash is stored.
    pub fn add(
        &self,
        badge: &str,
        name: &str,
        role: StaffRole,
        pin: &str,
    ) -> Result<StaffMember, StaffError> {
        check_badge(badge)?;
        let name = name.trim();
        if name.is_empty() || records::Text::new(name).is_err() || name.chars().count() > 80 {
            return Err(StaffError::Invalid(
                "name: one line of 1 to 80 characters".into(),
            ));
        }
        check_pin_format(pin)?;
        let hash = hash_pin(pin)?;
        let inserted = self
            .conn
            .execute(
                "INSERT INTO staff (badge, name, role, pin_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (badge) DO NOTHING",
                params![badge, name, role.as_str(), hash, now_ms()],
            )
            .map_err(|e| self.db(e))?;
        if inserted == 0 {
            return Err(StaffError::Invalid(format!(
                "badge {badge} already has an account"
            )));
        }
        Ok(StaffMember {
            badge: badge.to_owned(),
            name: name.to_owned(),
            role,
            disabled: false,
        })
    }

    /// Disables an account: it can no longer sign in.
    pub fn disable(&self, badge: &str) -> Result<(), StaffError> {
        let changed = self
            .conn
            .execute(
                "UPDATE staff SET disabled = 1 WHERE badge = ?1",
                params![badge],
            )
            .map_err(|e| self.db(e))?;
        if changed == 0 {
            return Err(StaffError::Invalid(format!("no account for badge {badge}")));
        }
        Ok(())
    }

    /// Every account, by badge.
    pub fn list(&self) -> Result<Vec<StaffMember>, StaffError> {
        let mut stmt = self
            .conn
            .prepare("SELECT badge, name, role, disabled FROM staff ORDER BY badge")
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            })
            .map_err(|e| self.db(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (badge, name, role, disabled) = row.map_err(|e| self.db(e))?;
            let role = StaffRole::from_name(&role).unwrap_or(StaffRole::Staff);
            out.push(StaffMember {
                badge,
                name,
                role,
                disabled,
            });
        }
        Ok(out)
    }

    /// Whether there are no accounts at all.
    pub fn is_empty(&self) -> Result<bool, StaffError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM staff", [], |r| r.get::<_, i64>(0))
            .map(|n| n == 0)
            .map_err(|e| self.db(e))
    }

    /// Checks a PIN for a badge at `now_ms`, counting failures towards the lockout. The count
    /// is in the file, so a restart does not hand out fresh tries.
    pub fn check_pin(
        &self,
        badge: &str,
        pin: &str,
        now_ms: i64,
        lockout: Lockout,
    ) -> Result<PinCheck, StaffError> {
        let row = self
            .conn
            .query_row(
                "SELECT name, role, pin_hash, disabled, failures, locked_until_ms FROM staff WHERE badge = ?1",
                params![badge],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, u32>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let Some((name, role, hash, disabled, failures, locked_until_ms)) = row else {
            // As slow as a real check, so that timing does not tell which badges exist.
            let _ = verify_pin(pin, DUMMY_HASH);
            return Ok(PinCheck::NotAllowed);
        };
        if disabled {
            let _ = verify_pin(pin, DUMMY_HASH);
            return Ok(PinCheck::NotAllowed);
        }
        if locked_until_ms > now_ms {
            return Ok(PinCheck::LockedOut {
                until_ms: locked_until_ms,
            });
        }
        if verify_pin(pin, &hash)? {
            self.conn
                .execute(
                    "UPDATE staff SET failures = 0, locked_until_ms = 0 WHERE badge = ?1",
                    params![badge],
                )
                .map_err(|e| self.db(e))?;
            return Ok(PinCheck::Accepted(StaffMember {
                badge: badge.to_owned(),
                name,
                role: StaffRole::from_name(&role).unwrap_or(StaffRole::Staff),
                disabled,
            }));
        }
        let failures = failures.saturating_add(1);
        if failures >= lockout.attempts {
            let until_ms = now_ms.saturating_add(lockout.duration.as_millis() as i64);
            self.conn
                .execute(
                    "UPDATE staff SET failures = 0, locked_until_ms = ?2 WHERE badge = ?1",
                    params![badge, until_ms],
                )
                .map_err(|e| self.db(e))?;
            return Ok(PinCheck::LockedOut { until_ms });
        }
        self.conn
            .execute(
                "UPDATE staff SET failures = ?2 WHERE badge = ?1",
                params![badge, failures],
            )
            .map_err(|e| self.db(e))?;
        Ok(PinCheck::Wrong {
            attempts_left: lockout.attempts - failures,
        })
    }
}

/// A hash of no one's PIN, checked against when a badge is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dXJuYS1kdW1teS1zYWx0$pV9l2tqw2FQ1xJvL1u9tEJ9d2yH2mJmB8l0kqzA8cBI";

fn check_badge(badge: &str) -> Result<(), StaffError> {
    let ok = !badge.is_empty()
        && badge.chars().count() <= MAX_BADGE_CHARS
        && badge.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(StaffError::Invalid(format!(
            "badge: 1 to {MAX_BADGE_CHARS} characters of A–Z, a–z, 0–9 and -"
        )))
    }
}

fn check_pin_format(pin: &str) -> Result<(), StaffError> {
    if PIN_DIGITS.contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StaffError::Invalid(format!(
            "PIN: {} to {} digits",
            PIN_DIGITS.start(),
            PIN_DIGITS.end()
        )))
    }
}

fn hash_pin(pin: &str) -> Result<String, StaffError> {
    argon2::Argon2::default()
        .hash_password(pin.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hash(e.to_string()))
}

fn verify_pin(pin: &str, stored: &str) -> Result<bool, StaffError> {
    let parsed = PasswordHash::new(stored).map_err(|e| StaffError::Hash(e.to_string()))?;
    Ok(argon2::Argon2::default()
        .verify_password(pin.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // PIN hashes are slow to attack, not impossible: readable by the service alone.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

/// A station's staff accounts, shared by its tasks.
pub type SharedStaff = std::sync::Arc<std::sync::Mutex<StaffStore>>;

/// Opens `staff.db` in `data_dir` for a running station; `None` (logged) when it cannot be
/// opened: then nobody can sign in, and the station says so instead of stopping.
pub async fn open_shared(data_dir: &Path) -> Option<SharedStaff> {
    let path = data_dir.join(STAFF_FILE);
    match tokio::task::spawn_blocking(move || StaffStore::open(&path)).await {
        Ok(Ok(store)) => Some(std::sync::Arc::new(std::sync::Mutex::new(store))),
        Ok(Err(e)) => {
            tracing::error!("staff accounts unavailable, nobody can sign in: {e}");
            None
        }
        Err(e) => {
            tracing::error!("staff accounts unavailable: {e}");
            None
        }
    }
}

impl Lockout {
    /// The lockout the station's `[staff]` section sets.
    pub fn from_config(config: &crate::config::StaffConfig) -> Lockout {
        Lockout {
            attempts: config.pin_attempts,
            duration: Duration::from_secs(u64::from(config.lockout_secs)),
        }
    }
}

/// Checks a PIN on a blocking thread (Argon2 takes tens of milliseconds, more on a Pi).
pub async fn check_pin(
    staff: &SharedStaff,
    badge: &str,
    pin: crate::workflow::Pin,
    lockout: Lockout,
) -> Result<PinCheck, StaffError> {
    let staff = staff.clone();
    let badge = badge.to_owned();
    let now_ms = crate::clock::now().unix_ms;
    tokio::task::spawn_blocking(move || {
        let store = staff.lock().unwrap_or_else(|p| p.into_inner());
        store.check_pin(&badge, &pin.0, now_ms, lockout)
    })
    .await
    .map_err(|e| StaffError::Hash(format!("PIN check stopped: {e}")))?
}
