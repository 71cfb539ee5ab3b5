//! A station rotates its key with a backlog the registry has not seen: it restarts on the new
//! key, hands the registry the signed statement, and the registry ends up holding the whole log,
//! verified across both keys; the station's own log verifies the same way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{KIOSK, eventually, get_json, post, prepare, start_registry, start_station_with};
use records::{ChainTip, KeyId, KeyRotation};
use registry::{KeyState, Registry, RegistryConfig};
use serde_json::json;
use station::config::Role;
use station::{CustodyLog, LogStore, StationKey};

fn station_tip(dir: &std::path::Path) -> u64 {
    let path = dir.join(KIOSK).join(station::runtime::LOG_FILE);
    LogStore::open_existing(&path)
        .ok()
        .and_then(|s| s.stored_tip().ok())
        .map_or(0, |t| t.seq)
}

async fn door(client: &reqwest::Client, kiosk: &str, dir: &std::path::Path) {
    for open in [true, false] {
        let before = station_tip(dir);
        let status = post(
            client,
            &format!("{kiosk}/sim/door"),
            Some(json!({ "open": open })),
        )
        .await;
        assert_eq!(status, 202);
        eventually("the door event in the log", || async {
            (station_tip(dir) > before).then_some(())
        })
        .await;
    }
}

async fn registry_holds(client: &reqwest::Client, registry: &str, seq: u64) {
    eventually(&format!("the registry holding seq {seq}"), || async {
        let body = get_json(
            client,
            &format!("{registry}/api/stations/{KIOSK}/acknowledged"),
        )
        .await;
        (body["acknowledged"].as_u64()? >= seq).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_with_a_backlog_rotates_its_key_and_the_registry_verifies_both() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let addr = prepare(dir);
    let registry_url = format!("http://{addr}");
    let client = reqwest::Client::new();
    let old_key_file = dir.join(KIOSK).join("station.key");
    let new_key_file = dir.join(KIOSK).join("station-2.key");
    let log_path = dir.join(KIOSK).join(station::runtime::LOG_FILE);

    // Events the registry holds, then a backlog while it is away.
    let registry_server = start_registry(dir, addr).await;
    let (kiosk_server, kiosk) = start_station_with(dir, KIOSK, Role::Urn, addr, |_| {}).await;
    door(&client, &kiosk, dir).await;
    registry_holds(&client, &registry_url, station_tip(dir)).await;
    registry_server.stop().await;
    door(&client, &kiosk, dir).await;
    let backlog_tip = station_tip(dir);
    kiosk_server.stop().await;

    // The admin rotates the key with the station stopped.
    let rotated = station::custody_log::rotate_key(
        &log_path,
        KIOSK.parse().unwrap(),
        &old_key_file,
        &new_key_file,
    )
    .unwrap();
    assert_eq!(rotated.rotation.from_seq, backlog_tip + 1);
    let mode = std::fs::metadata(&new_key_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let written = std::fs::read_to_string(&rotated.statement_file).unwrap();
    let statement: KeyRotation = records::rotation::parse_verified(written.trim_end()).unwrap();
    assert_eq!(statement, rotated.rotation);
    // Never twice from the same key, and never over an existing file.
    assert!(
        station::custody_log::rotate_key(
            &log_path,
            KIOSK.parse().unwrap(),
            &old_key_file,
            &dir.join(KIOSK).join("station-3.key"),
        )
        .is_err()
    );
    assert!(!dir.join(KIOSK).join("station-3.key").exists());
    // The old key can no longer open the log for writing: nothing is signed past the rotation.
    let old = StationKey::load(&old_key_file).unwrap();
    let refused = CustodyLog::open(&log_path, KIOSK.parse().unwrap(), old).unwrap_err();
    assert!(refused.to_string().contains("key_file"), "{refused}");

    // Both back; the station now on its new key.
    let registry_server = start_registry(dir, addr).await;
    let new_key_path = new_key_file.clone();
    let (kiosk_server, kiosk) = start_station_with(dir, KIOSK, Role::Urn, addr, move |c| {
        c.key_file = new_key_path;
    })
    .await;
    door(&client, &kiosk, dir).await;
    let tip = station_tip(dir);
    // The station may log something of its own at start (its clock); the doors are there.
    assert!(tip >= backlog_tip + 2);
    registry_holds(&client, &registry_url, tip).await;
    let status = get_json(&client, &format!("{kiosk}/api/status")).await;
    assert_eq!(
        status["key_fingerprint"], rotated.new_fingerprint,
        "{status}"
    );
    kiosk_server.stop().await;
    registry_server.stop().await;

    // The registry: the old key retired, the new one approved, the whole log held.
    let registry = Registry::open(&dir.join("register.db"), RegistryConfig::demo()).unwrap();
    let keys = registry.station_keys().await.unwrap();
    let state = |id: KeyId| keys.iter().find(|k| k.key_id() == id).map(|k| k.state);
    assert_eq!(state(statement.old_key_id()), Some(KeyState::Retired));
    assert_eq!(state(statement.new_key_id()), Some(KeyState::Approved));
    assert_eq!(
        registry.acknowledged(KIOSK.parse().unwrap()).await.unwrap(),
        tip
    );

    // The station's log: the old key up to the rotation, the new one after, verified whole.
    let store = LogStore::open_existing(&log_path).unwrap();
    let verified = store
        .verify(&store.recorded_keys().unwrap(), ChainTip::GENESIS)
        .unwrap();
    assert_eq!(verified.seq, tip);
    for event in store.events_after(0, 100).unwrap() {
        let want = if event.signed.seq < statement.from_seq {
            statement.old_key_id()
        } else {
            statement.new_key_id()
        };
        assert_eq!(event.signed.key_id, want, "seq {}", event.signed.seq);
    }
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_urna"))
        .args(["log", "verify", "--db"])
        .arg(&log_path)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
}
