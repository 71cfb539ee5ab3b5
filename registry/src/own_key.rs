//! The registry's own Ed25519 key: it signs the custody events the registry itself records
//! (a department acknowledging receipt). A PKCS#8 PEM file in the registry's data directory,
//! made on first start with mode 0600, never logged; `Debug` shows only the fingerprint.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use records::{KeyId, SigningKey, StationCode, VerifyingKey};
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// The key file's name in the registry's data directory (beside the register).
pub const KEY_FILE: &str = "registry.key";

/// The code the registry's own events are filed under: its chain is kept and verified like a
/// station's. Stations are named by the office (`GWU2` …); this one is reserved, and a station
/// enrolling under it is refused because the code already has another key.
pub const REGISTRY_CODE: &str = "RGST";

/// Key files are small; anything larger is not one and is not read into memory.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The registry's signing key.
pub struct RegistryKey {
    signing: SigningKey,
}

impl fmt::Debug for RegistryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistryKey({})", self.fingerprint())
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::RegistryKey(format!("{}: {e}", path.display()))
}

impl RegistryKey {
    /// Loads the key at `path`, or makes one there (mode 0600) when there is no file.
    pub fn load_or_create(path: &Path) -> Result<RegistryKey> {
        match fs::symlink_metadata(path) {
            Ok(_) => RegistryKey::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RegistryKey::create(path)?;
                tracing::info!(path = %path.display(), fingerprint = %key.fingerprint(), "registry key made");
                Ok(key)
            }
            Err(e) => Err(io_error(path, &e)),
        }
    }

    fn create(path: &Path) -> Result<RegistryKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|_| Error::RegistryKey("the system has no randomness to make a key".into()))?;
        let key = RegistryKey {
            signing: SigningKey::from_bytes(&seed),
        };
        seed.zeroize();
        let pem = key
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| Error::RegistryKey("cannot encode the new key".into()))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_error(path, &e))?;
        // The umask can only remove bits; be explicit all the same: the key is the service's alone.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error(path, &e))?;
        file.write_all(pem.as_bytes())
            .map_err(|e| io_error(path, &e))?;
        file.sync_all().map_err(|e| io_error(path, &e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error(dir, &e))?;
        }
        Ok(key)
    }

    /// Loads a key file, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<RegistryKey> {
        let meta = fs::metadata(path).map_err(|e| io_error(path, &e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::RegistryKey(format!(
                "{} has mode {mode:o}: readable beyond the service; chmod 600 it",
                path.display()
            )));
        }
        if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
            return Err(Error::RegistryKey(format!(
                "{} is not a key file",
                path.display()
            )));
        }
        let mut text = fs::read(path).map_err(|e| io_error(path, &e))?;
        let parsed = std::str::from_utf8(&text)
            .ok()
            .and_then(|pem| SigningKey::from_pkcs8_pem(pem).ok());
        text.zeroize();
        let signing = parsed.ok_or_else(|| {
            Error::RegistryKey(format!("{} is not an Ed25519 key file", path.display()))
        })?;
        Ok(RegistryKey { signing })
    }

    /// A key from a fixed seed, for tests that need reproducible signatures.
    pub fn from_seed(seed: [u8; 32]) -> RegistryKey {
        RegistryKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The public half: what verifies the registry's events.
    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key's short id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public())
    }

    /// What an auditor compares.
    pub fn fingerprint(&self) -> String {
        records::fingerprint(&self.public())
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

/// The code of the registry's own chain.
pub fn registry_code() -> StationCode {
    // A constant from the code alphabet; a test below keeps it one.
    StationCode::from_bytes(*b"RGST").unwrap_or_else(|_| unreachable!("RGST is a station code"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_a_station_code() {
        assert_eq!(registry_code().as_str(), REGISTRY_CODE);
    }

    #[test]
    fn a_key_is_made_once_private_and_loaded_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let made = RegistryKey::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = RegistryKey::load_or_create(&path).unwrap();
        assert_eq!(made.public(), again.public());
        assert!(!format!("{made:?}").contains("PRIVATE"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = RegistryKey::load(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
