//! The station's signing key on disk: generated once, kept private to the service, never logged.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use records::{KeyId, SigningKey, VerifyingKey};
use zeroize::Zeroize;

use crate::error::{Error, Result, io};

/// Key files are small; anything larger is not one and is not read into memory.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// A station's Ed25519 key. `Debug` shows only the public fingerprint.
pub struct StationKey {
    signing: SigningKey,
}

impl fmt::Debug for StationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StationKey({})", self.fingerprint())
    }
}

impl StationKey {
    /// Makes a new key from the operating system's randomness and writes it to `path` with
    /// mode 0600. Refuses to overwrite anything.
    pub fn generate_to_file(path: &Path) -> Result<StationKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| Error::Randomness)?;
        let key = StationKey {
            signing: SigningKey::from_bytes(&seed),
        };
        seed.zeroize();
        let pem = key
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| Error::Randomness)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::KeyExists {
                    path: path.to_owned(),
                },
                _ => Error::Io {
                    path: path.to_owned(),
                    source: e,
                },
            })?;
        // The umask can only remove bits, but be explicit: the key is the service's alone.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io(path))?;
        file.write_all(pem.as_bytes()).map_err(io(path))?;
        file.sync_all().map_err(io(path))?;
        sync_parent_dir(path)?;
        Ok(key)
    }

    /// Loads a key file, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<StationKey> {
        let meta = fs::metadata(path).map_err(io(path))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::KeyPermissions {
                path: path.to_owned(),
                mode,
            });
        }
        if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
            return Err(Error::KeyFormat {
                path: path.to_owned(),
            });
        }
        let mut text = fs::read(path).map_err(io(path))?;
        let parsed = std::str::from_utf8(&text)
            .ok()
            .and_then(|pem| SigningKey::from_pkcs8_pem(pem).ok());
        text.zeroize();
        let signing = parsed.ok_or_else(|| Error::KeyFormat {
            path: path.to_owned(),
        })?;
        Ok(StationKey { signing })
    }

    /// A key from a fixed seed, for tests and simulations that need reproducible signatures.
    pub fn from_seed(seed: [u8; 32]) -> StationKey {
        StationKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The public half, which the registry enrols.
    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key's short id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public())
    }

    /// What an admin compares at enrolment.
    pub fn fingerprint(&self) -> String {
        records::fingerprint(&self.public())
    }

    /// The signing key, for signing events and receipts.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

/// Makes a rename or a new file in `path`'s directory durable.
pub(crate) fn sync_parent_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}
