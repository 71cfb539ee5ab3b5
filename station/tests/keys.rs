//! Station key files: made private, never overwritten, refused when readable by others or broken,
//! and never echoed in an error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;

use proptest::prelude::*;
use station::{Error, StationKey};

#[test]
fn keygen_writes_a_private_key_that_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.key");
    let made = StationKey::generate_to_file(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
    let loaded = StationKey::load(&path).unwrap();
    assert_eq!(loaded.public(), made.public());
    assert_eq!(loaded.fingerprint(), made.fingerprint());
    assert_eq!(made.fingerprint().len(), 39, "{}", made.fingerprint());
    // Debug shows the fingerprint only.
    assert_eq!(
        format!("{loaded:?}"),
        format!("StationKey({})", made.fingerprint())
    );
}

#[test]
fn two_keys_are_different() {
    let dir = tempfile::tempdir().unwrap();
    let a = StationKey::generate_to_file(&dir.path().join("a.key")).unwrap();
    let b = StationKey::generate_to_file(&dir.path().join("b.key")).unwrap();
    assert_ne!(a.public(), b.public());
}

#[test]
fn keygen_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.key");
    std::fs::write(&path, b"precious").unwrap();
    let err = StationKey::generate_to_file(&path).unwrap_err();
    assert!(matches!(err, Error::KeyExists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn a_key_readable_by_others_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.key");
    StationKey::generate_to_file(&path).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = StationKey::load(&path).unwrap_err();
        assert!(matches!(err, Error::KeyPermissions { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("chmod 600 {}", path.display())),
            "{message}"
        );
        assert!(message.contains(&format!("{mode:04o}")), "{message}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    StationKey::load(&path).unwrap();
}

#[test]
fn a_corrupted_key_file_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.key");
    StationKey::generate_to_file(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let body_line = text.lines().nth(1).unwrap().to_owned();
    let damaged = text.replacen(&body_line[..8], "AAAAAAAA", 1);
    std::fs::write(&path, &damaged).unwrap();
    let err = StationKey::load(&path).unwrap_err();
    assert!(matches!(err, Error::KeyFormat { .. }), "{err}");
    assert!(!err.to_string().contains(&body_line[8..20]), "{err}");
    assert!(!format!("{err:?}").contains(&body_line[8..20]), "{err:?}");
}

#[test]
fn a_missing_key_file_names_the_path() {
    let err = StationKey::load(std::path::Path::new("/nonexistent/urna/station.key")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/urna/station.key"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arbitrary file contents never load as a key and never appear in the error.
    #[test]
    fn arbitrary_key_file_contents_are_refused(
        contents in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            "-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=]{0,120}\n-----END PRIVATE KEY-----\n"
                .prop_map(String::into_bytes),
        ]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("station.key");
        std::fs::write(&path, &contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        match StationKey::load(&path) {
            Ok(_) => prop_assert!(false, "garbage loaded as a key"),
            Err(err) => {
                prop_assert!(matches!(err, Error::KeyFormat { .. }), "{}", err);
                let message = err.to_string();
                if contents.len() >= 16 {
                    let text = String::from_utf8_lossy(&contents);
                    let probe: String = text.chars().skip(28).take(12).collect();
                    if probe.chars().count() == 12 && !probe.contains(char::is_whitespace) {
                        prop_assert!(!message.contains(&probe), "{}", message);
                    }
                }
            }
        }
    }
}
