//! The SQLite store and enrolment on their own: schema versions, key checks, config checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use records::SigningKey;
use registry::{Error, Registry, RegistryConfig};

#[test]
fn a_register_from_a_newer_urna_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    drop(Registry::open(&path, RegistryConfig::demo()).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Registry::open(&path, RegistryConfig::demo()).unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade urna"));
}

#[tokio::test]
async fn enrolment_is_idempotent_and_refuses_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(&dir.path().join("r.sqlite"), RegistryConfig::demo()).unwrap();
    let code = "GW7K".parse().unwrap();
    let key = SigningKey::from_bytes(&[1; 32]).verifying_key();
    registry.enrol(code, "Urna", key).await.unwrap();
    registry.enrol(code, "Urna", key).await.unwrap();
    let other = SigningKey::from_bytes(&[2; 32]).verifying_key();
    let err = registry.enrol(code, "Urna", other).await.unwrap_err();
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err}");
    let stations = registry.stations().await.unwrap();
    assert_eq!(stations.len(), 1);
    assert_eq!(stations[0].key, key);
    assert_eq!(registry.acknowledged(code).await.unwrap(), 0);
}

#[test]
fn config_is_checked_and_strict() {
    let demo = RegistryConfig::demo();
    demo.validate().unwrap();
    assert_eq!(demo.department_for("komunikacja"), "Wydział Komunikacji");
    assert_eq!(demo.department_for("nieznana"), "Kancelaria ogólna");
    assert!(demo.departments().len() >= 4);

    let mut bad = demo.clone();
    bad.categories[1].id = "Budownictwo!".into();
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("categories[1].id"), "{err}");
    let mut twice = demo.clone();
    twice.categories[2].id = twice.categories[0].id.clone();
    assert!(twice.validate().unwrap_err().to_string().contains("twice"));

    let json = r#"{"categories": [], "default_department": "Kancelaria", "colour": "red"}"#;
    assert!(serde_json::from_str::<RegistryConfig>(json).is_err());
    let json = r#"{"categories": [], "default_department": "Kancelaria"}"#;
    serde_json::from_str::<RegistryConfig>(json)
        .unwrap()
        .validate()
        .unwrap();
}
