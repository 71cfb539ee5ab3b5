//! Key rotation over real HTTP on loopback: a statement signed by the station's approved key and
//! by its successor retires the one and approves the other; what the old key signed before stays
//! genuine; anything else is refused and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, Sim, now_secs, signed};
use records::api::PushRequest;
use records::rotation::{KeyRotation, RotationRequest};
use records::{KeyId, SignedEvent, SigningKey};
use registry::KeyState;
use serde_json::Value;

async fn post_rotation(server: &Server, code: &str, statement: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/stations/{code}/keys", server.url))
        .json(&RotationRequest {
            statement: statement.to_owned(),
        })
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Pushes `events` to `code`'s events, the request signed by `key`.
async fn push_signed(
    server: &Server,
    key: &SigningKey,
    code: &str,
    events: &[SignedEvent],
) -> (u16, Value) {
    let path = format!("/api/stations/{code}/events");
    let body = serde_json::to_vec(&PushRequest {
        events: events.to_vec(),
    })
    .unwrap();
    let request = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .header("content-type", "application/json");
    let resp = signed(request, key, "POST", &path, &body, now_secs(), true, None)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn state_of(server: &Server, key: &SigningKey) -> Option<KeyState> {
    let id = KeyId::of(&key.verifying_key());
    server
        .registry
        .station_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.key_id() == id)
        .map(|k| k.state)
}

#[tokio::test]
async fn a_rotated_station_signs_with_its_new_key_and_its_old_events_stay_genuine() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let old = urn.key.clone();
    let new = SigningKey::from_bytes(&[9; 32]);

    let (_, deposit, receipt) = urn.deposit("podatki", None);
    let sent = vec![deposit, urn.door()];
    let (status, body) = push_signed(&server, &old, "GW7K", &sent).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (200, Some(2)));
    // A backlog the old key signed that the registry has not seen yet.
    let (_, late_deposit, late_receipt) = urn.deposit("inne", None);
    let backlog = vec![late_deposit, urn.door()];

    // Before its statement arrives, the new key is only a pending key.
    let (status, body) = push_signed(&server, &new, "GW7K", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("not_approved"))
    );
    assert_eq!(state_of(&server, &new).await, Some(KeyState::Pending));

    let statement = KeyRotation::sign(urn.code, urn.seq + 1, &old, &new).to_string();
    let (status, body) = post_rotation(&server, "GW7K", &statement).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], false);
    assert_eq!(body["from_seq"], 5);
    assert_eq!(
        body["new_fingerprint"],
        records::fingerprint(&new.verifying_key())
    );
    assert_eq!(state_of(&server, &old).await, Some(KeyState::Retired));
    assert_eq!(state_of(&server, &new).await, Some(KeyState::Approved));

    // Sent again: harmless.
    let (status, body) = post_rotation(&server, "GW7K", &statement).await;
    assert_eq!((status, body["replayed"].as_bool()), (200, Some(true)));
    assert_eq!(server.count("key_rotations"), 1);

    // The old key's requests are refused from now on, whatever they carry.
    let (status, body) = push_signed(&server, &old, "GW7K", &backlog).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("key_replaced"))
    );

    // The new key's requests carry the old key's backlog and the new key's events.
    urn.key = new.clone();
    let mut rest = backlog.clone();
    rest.extend([urn.door(), urn.door()]);
    let (status, body) = push_signed(&server, &new, "GW7K", &rest).await;
    assert_eq!(
        (status, body["acknowledged"].as_u64()),
        (200, Some(6)),
        "{body}"
    );

    // The old key vouches for nothing after the rotation: an event it signs at seq 7 is refused
    // even inside a request the new key signed.
    let mut thief = urn.clone();
    thief.key = old.clone();
    let stolen = thief.door();
    let (status, body) = push_signed(&server, &new, "GW7K", &[stolen]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("chain")),
        "{body}"
    );
    assert_eq!(body["acknowledged"], 6);

    // Receipts the old key signed, before and in the backlog, are genuine.
    for text in [receipt, late_receipt] {
        let verdict = server.verify(&text).await;
        assert!(verdict.genuine, "{verdict:?}");
        assert!(verdict.status.is_some(), "{verdict:?}");
    }

    // A restart keeps it all.
    let registry = server.registry.clone();
    server.stop().await;
    drop(registry);
    let server = Server::start(dir.path()).await;
    assert_eq!(state_of(&server, &old).await, Some(KeyState::Retired));
    assert_eq!(state_of(&server, &new).await, Some(KeyState::Approved));
    let (status, body) = push_signed(&server, &new, "GW7K", &[urn.door()]).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (200, Some(7)));
    server.stop().await;
}

#[tokio::test]
async fn statements_by_the_wrong_keys_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let other = Sim::new("GW2K", 2);
    server.enrol(&other, "Druga urna").await;
    let revoked = Sim::new("GW3K", 3);
    server.enrol(&revoked, "Urna unieważniona").await;
    server.registry.revoke(revoked.code).await.unwrap();
    let first = [urn.door(), urn.door()];
    let (status, _) = push_signed(&server, &urn.key, "GW7K", &first).await;
    assert_eq!(status, 200);

    let new = SigningKey::from_bytes(&[9; 32]);
    let stranger = SigningKey::from_bytes(&[7; 32]);
    let refused = |(status, body): (u16, Value), want: (u16, &str)| {
        assert_eq!(
            (status, body["error"].as_str()),
            (want.0, Some(want.1)),
            "{body}"
        );
    };

    // Signed by a key the registry never saw.
    let unknown = KeyRotation::sign(urn.code, 3, &stranger, &new).to_string();
    refused(
        post_rotation(&server, "GW7K", &unknown).await,
        (401, "unknown_key"),
    );
    // By a revoked key.
    let by_revoked = KeyRotation::sign(revoked.code, 1, &revoked.key, &new).to_string();
    refused(
        post_rotation(&server, "GW3K", &by_revoked).await,
        (401, "revoked"),
    );
    // By another station's key, for this station.
    let by_other = KeyRotation::sign(urn.code, 3, &other.key, &new).to_string();
    refused(
        post_rotation(&server, "GW7K", &by_other).await,
        (401, "wrong_station"),
    );
    // A statement about one station sent to another's path.
    let good = KeyRotation::sign(urn.code, 3, &urn.key, &new);
    refused(
        post_rotation(&server, "GW2K", &good.to_string()).await,
        (401, "wrong_station"),
    );
    // Altered signatures: the old key's authority, the new key's proof of possession.
    let mut forged = good.clone();
    forged.old_signature[0] ^= 1;
    refused(
        post_rotation(&server, "GW7K", &forged.to_string()).await,
        (401, "bad_signature"),
    );
    let mut forged = good.clone();
    forged.new_signature[0] ^= 1;
    refused(
        post_rotation(&server, "GW7K", &forged.to_string()).await,
        (401, "bad_signature"),
    );
    // Naming a new key the holder of the old one does not hold: the new signature fails.
    let mut foreign = good.clone();
    foreign.new_key = other.key.verifying_key();
    refused(
        post_rotation(&server, "GW7K", &foreign.to_string()).await,
        (401, "bad_signature"),
    );
    // Handing the station a key the registry already knows as another station's.
    let onto_other = KeyRotation::sign(urn.code, 3, &urn.key, &other.key).to_string();
    refused(
        post_rotation(&server, "GW7K", &onto_other).await,
        (409, "rotation_conflict"),
    );
    // From a seq the registry already holds, signed by the old key.
    let too_late = KeyRotation::sign(urn.code, 2, &urn.key, &new).to_string();
    refused(
        post_rotation(&server, "GW7K", &too_late).await,
        (409, "rotation_conflict"),
    );
    // Not a statement at all.
    refused(
        post_rotation(&server, "GW7K", "URNA-ROTATE1:GW7K").await,
        (400, "bad_request"),
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/api/stations/GW7K/keys", server.url))
        .header("content-type", "application/json")
        .body("{\"statement\": 5}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);

    assert_eq!(server.count("key_rotations"), 0);
    assert_eq!(state_of(&server, &urn.key).await, Some(KeyState::Approved));
    assert_eq!(state_of(&server, &new).await, None);
    assert_eq!(
        state_of(&server, &revoked.key).await,
        Some(KeyState::Revoked)
    );

    // Once rotated, the old key cannot name a second successor.
    let (status, _) = post_rotation(&server, "GW7K", &good.to_string()).await;
    assert_eq!(status, 200);
    let again = KeyRotation::sign(urn.code, 3, &urn.key, &stranger).to_string();
    refused(
        post_rotation(&server, "GW7K", &again).await,
        (409, "rotation_conflict"),
    );
    assert_eq!(state_of(&server, &stranger).await, None);
    assert_eq!(server.count("key_rotations"), 1);
    server.stop().await;
}
