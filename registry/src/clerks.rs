//! Clerks of the registry office: accounts (Argon2id password hashes), what a signed-in clerk
//! may see ([`Scope`]), and the rules sign-in keeps (lockout, session length).
//!
//! A password is never stored, logged or put in an error message: only its hash is kept, and
//! only the username is logged.

use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::ClerkRole;

/// Longest username.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Shortest password an account may be given.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password sign-in reads: longer input is refused before Argon2 sees it.
pub const MAX_PASSWORD_BYTES: usize = 256;
/// Failed sign-ins of one username that lock it ...
pub const MAX_LOGIN_FAILURES: u32 = 5;
/// ... when they fall within this window ...
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// ... for this long.
pub const LOGIN_LOCKOUT: Duration = Duration::from_secs(5 * 60);
/// How long a session lasts: a working day; then the clerk signs in again.
pub const SESSION_TTL: Duration = Duration::from_secs(10 * 3600);

/// A hash of no one's password, checked against when a username is unknown or disabled, so
/// that the answer takes as long as for a known one and does not tell which usernames exist.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dXJuYS1kdW1teS1zYWx0$pV9l2tqw2FQ1xJvL1u9tEJ9d2yH2mJmB8l0kqzA8cBI";

/// A username: 1 to [`MAX_USERNAME_CHARS`] of `a`–`z`, `0`–`9`, `.`, `_`, `-` (lowercased).
pub fn normalize_username(text: &str) -> Result<String> {
    let name = text.trim().to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(name)
    } else {
        Err(Error::BadRequest(format!(
            "a username has 1 to {MAX_USERNAME_CHARS} characters of a-z, 0-9, '.', '_' and '-'"
        )))
    }
}

/// Refuses a password too short or too long for an account (the message never repeats it).
pub fn check_new_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::BadRequest(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters and at most \
             {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "a password has no control characters".into(),
        ));
    }
    Ok(())
}

/// A department name for a clerk: not empty, no control characters, at most 200 bytes.
pub fn check_department(department: &str) -> Result<String> {
    let d = department.trim();
    if d.is_empty() || d.len() > 200 || d.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "a department is 1 to 200 bytes of text without control characters".into(),
        ));
    }
    Ok(d.to_owned())
}

/// The Argon2id hash (PHC string) of a password; slow on purpose: call it off the async threads.
pub(crate) fn hash_password(password: &str) -> Result<String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Task(format!("hashing a password: {e}")))
}

/// Whether `password` matches the stored hash; slow on purpose, as [`hash_password`].
pub(crate) fn verify_password(password: &str, stored: &str) -> Result<bool> {
    let parsed = PasswordHash::new(stored)
        .map_err(|e| Error::Corrupt(format!("a clerk's password hash: {e}")))?;
    Ok(argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// A new session token: 256 random bits, as the cookie carries them (base64url, no padding).
pub(crate) fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|_| Error::Task("the system has no randomness for a session".into()))?;
    Ok(data_encoding::BASE64URL_NOPAD.encode(&bytes))
}

/// What the register keeps of a token: its SHA-256, so that a copy of the register opens no
/// session.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A signed-in clerk, as a request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who.
    pub username: String,
    /// What they may see.
    pub role: ClerkRole,
    /// When the session ends (unix ms).
    pub expires_ms: i64,
}

impl Session {
    /// What this clerk may see.
    pub fn scope(&self) -> Scope {
        match &self.role {
            ClerkRole::Admin => Scope::All,
            ClerkRole::Clerk { department } => Scope::Department(department.clone()),
        }
    }
}

/// Which intakes a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every intake: an admin, or a station of the office (the mailroom looks up any letter).
    All,
    /// One department's intakes only: a clerk's.
    Department(String),
}

impl Scope {
    /// Whether an intake of `department` is visible.
    pub fn allows(&self, department: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Department(d) => d == department,
        }
    }

    /// The department the scope is bound to; `None` for all.
    pub fn department(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Department(d) => Some(d),
        }
    }
}

/// How a sign-in ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in: the token goes into the cookie and nowhere else.
    SignedIn {
        /// The session token.
        token: String,
        /// The session.
        session: Session,
    },
    /// Wrong username or password (which of them is not said).
    Refused,
    /// Too many failures: refused without checking until then (unix ms).
    Locked {
        /// When sign-in opens again.
        until_ms: i64,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked_and_lowercased() {
        assert_eq!(normalize_username(" Kancelaria ").unwrap(), "kancelaria");
        for bad in ["", "a b", "ą", "x/y", &"a".repeat(65)] {
            assert!(normalize_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_dummy_hash_is_a_hash() {
        assert!(!verify_password("anything", DUMMY_HASH).unwrap());
    }

    #[test]
    fn a_password_error_does_not_repeat_the_password() {
        let err = check_new_password("short").unwrap_err().to_string();
        assert!(!err.contains("short"), "{err}");
    }

    #[test]
    fn tokens_are_256_bits_and_differ() {
        let a = new_token().unwrap();
        assert_eq!(
            data_encoding::BASE64URL_NOPAD
                .decode(a.as_bytes())
                .unwrap()
                .len(),
            32
        );
        assert_ne!(a, new_token().unwrap());
    }
}
