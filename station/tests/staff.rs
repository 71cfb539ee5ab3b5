//! The mailroom's staff accounts in a real SQLite file: PINs only as Argon2id hashes, the
//! lockout after wrong PINs surviving a restart, disabled and unknown badges refused alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use proptest::prelude::*;
use station::staff::{Lockout, PinCheck, StaffRole, StaffStore};

const LOCKOUT: Lockout = Lockout {
    attempts: 3,
    duration: Duration::from_secs(300),
};
const T0: i64 = 1_800_000_000_000;

fn store() -> (tempfile::TempDir, StaffStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = StaffStore::open(&dir.path().join("staff.db")).unwrap();
    (dir, store)
}

#[test]
fn the_right_pin_signs_in_and_only_a_hash_is_stored() {
    let (dir, store) = store();
    store
        .add("1001", "Anna Kowalska", StaffRole::Supervisor, "482913")
        .unwrap();
    match store.check_pin("1001", "482913", T0, LOCKOUT).unwrap() {
        PinCheck::Accepted(member) => {
            assert_eq!(member.name, "Anna Kowalska");
            assert_eq!(member.role, StaffRole::Supervisor);
        }
        other => panic!("{other:?}"),
    }
    drop(store);
    let raw = rusqlite::Connection::open(dir.path().join("staff.db")).unwrap();
    let hash: String = raw
        .query_row("SELECT pin_hash FROM staff WHERE badge = '1001'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("482913"));
    let bytes = std::fs::read(dir.path().join("staff.db")).unwrap();
    assert!(
        !bytes.windows(6).any(|w| w == b"482913"),
        "the PIN is nowhere in the file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("staff.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable by the service alone: {mode:o}");
    }
}

#[test]
fn wrong_pins_lock_the_badge_and_the_lockout_survives_a_restart_and_ends() {
    let (dir, store) = store();
    store
        .add("1002", "Jan Nowak", StaffRole::Staff, "1234")
        .unwrap();
    assert_eq!(
        store.check_pin("1002", "0000", T0, LOCKOUT).unwrap(),
        PinCheck::Wrong { attempts_left: 2 }
    );
    assert_eq!(
        store.check_pin("1002", "0001", T0, LOCKOUT).unwrap(),
        PinCheck::Wrong { attempts_left: 1 }
    );
    let until_ms = T0 + 300_000;
    assert_eq!(
        store.check_pin("1002", "0002", T0, LOCKOUT).unwrap(),
        PinCheck::LockedOut { until_ms }
    );
    drop(store);
    let store = StaffStore::open(&dir.path().join("staff.db")).unwrap();
    // Even the right PIN waits out the lockout.
    assert_eq!(
        store
            .check_pin("1002", "1234", T0 + 1_000, LOCKOUT)
            .unwrap(),
        PinCheck::LockedOut { until_ms }
    );
    assert!(matches!(
        store.check_pin("1002", "1234", until_ms, LOCKOUT).unwrap(),
        PinCheck::Accepted(_)
    ));
    // A success starts the count again.
    assert_eq!(
        store.check_pin("1002", "9999", until_ms, LOCKOUT).unwrap(),
        PinCheck::Wrong { attempts_left: 2 }
    );
}

#[test]
fn an_unknown_badge_costs_a_full_argon2_check_like_a_known_one() {
    // The dummy hash must parse and be verified for real, or an unknown badge would answer
    // faster than a known one and give badges away by timing.
    let (_dir, store) = store();
    store
        .add("1006", "Known", StaffRole::Staff, "2580")
        .unwrap();
    let time = |badge: &str| {
        let started = std::time::Instant::now();
        for _ in 0..3 {
            store.check_pin(badge, "0000", T0, LOCKOUT).unwrap();
            if badge == "1006" {
                // Keep the known badge clear of its lockout.
                store.check_pin(badge, "2580", T0, LOCKOUT).unwrap();
            }
        }
        started.elapsed()
    };
    let unknown = time("4321");
    let known = time("1006") / 2;
    assert!(
        unknown * 2 > known,
        "an unknown badge took {unknown:?}, a known one {known:?}"
    );
}

#[test]
fn unknown_and_disabled_badges_are_refused_alike() {
    let (_dir, store) = store();
    store
        .add("1003", "Ewa Lis", StaffRole::Staff, "5555")
        .unwrap();
    assert_eq!(
        store.check_pin("9999", "5555", T0, LOCKOUT).unwrap(),
        PinCheck::NotAllowed
    );
    store.disable("1003").unwrap();
    assert_eq!(
        store.check_pin("1003", "5555", T0, LOCKOUT).unwrap(),
        PinCheck::NotAllowed
    );
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].disabled, "kept, since events name it");
    assert!(store.disable("7777").is_err());
}

#[test]
fn bad_accounts_are_refused_and_change_nothing() {
    let (_dir, store) = store();
    store.add("1004", "Ola", StaffRole::Staff, "2468").unwrap();
    for (badge, name, pin) in [
        ("1004", "Ola Druga", "1357"),   // badge taken
        ("1005", "Bez PIN-u", "12"),     // too short
        ("1005", "Litery", "12ab"),      // not digits
        ("1005", "", "1357"),            // no name
        ("10 05", "Spacja", "1357"),     // bad badge
        ("", "Pusta", "1357"),           // no badge
        ("1005", "Dwie\nlinie", "1357"), // not one line
    ] {
        let err = store.add(badge, name, StaffRole::Staff, pin).unwrap_err();
        assert!(
            !err.to_string().contains("1357"),
            "never echoes a PIN: {err}"
        );
    }
    assert_eq!(store.list().unwrap().len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn anything_but_four_to_twelve_digits_is_not_a_pin(pin in "\\PC{0,16}") {
        let valid = (4..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit());
        prop_assume!(!valid);
        let (_dir, store) = store();
        let result = store.add("2001", "Test", StaffRole::Staff, &pin);
        prop_assert!(result.is_err());
        if let Err(e) = result {
            // The same fixed sentence whatever was typed: the input is never echoed.
            prop_assert_eq!(e.to_string(), "PIN: 4 to 12 digits");
        }
        prop_assert!(store.is_empty().unwrap());
    }
}
