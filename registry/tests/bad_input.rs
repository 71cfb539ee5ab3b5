//! Property test: whatever bytes reach the ingest endpoint, the answer is never a 5xx and the
//! register stays empty (an empty push is the only 200).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, Sim};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn json_ish() -> impl Strategy<Value = Vec<u8>> {
    let fragments = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"events\"",
        "\"seq\"",
        "\"canonical\"",
        "\"key_id\"",
        "\"signature\"",
        "0",
        "1",
        "2",
        "-1",
        "18446744073709551615",
        "18446744073709551616",
        "1e400",
        "null",
        "true",
        "\"\"",
        "\"AQ==\"",
        "\"0011223344556677\"",
        "\"x\"",
        "\"\\u0000\"",
    ]);
    prop::collection::vec(fragments, 0..48).prop_map(|v| v.concat().into_bytes())
}

fn shaped_push() -> impl Strategy<Value = Vec<u8>> {
    let event = (
        0u64..6,
        prop::collection::vec(any::<u8>(), 0..120),
        any::<[u8; 8]>(),
        prop::collection::vec(any::<u8>(), 64..=64),
    );
    prop::collection::vec(event, 0..5).prop_map(|events| {
        let events: Vec<serde_json::Value> = events
            .into_iter()
            .map(|(seq, canonical, key_id, sig)| {
                serde_json::json!({
                    "seq": seq,
                    "canonical": b64(&canonical),
                    "key_id": key_id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    "signature": b64(&sig),
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap()
    })
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn hostile_push_bodies_never_fail_the_server_and_store_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt.block_on(Server::start(dir.path()));
    let urn = Sim::new("GW7K", 1);
    rt.block_on(server.enrol(&urn, "Urna"));
    let client = reqwest::Client::new();
    let url = format!("{}/api/stations/GW7K/events", server.url);

    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        json_ish(),
        shaped_push(),
    ];
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::with_cases(64)
    });
    runner
        .run(&strategy, |body| {
            let status = rt.block_on(async {
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap()
                    .status()
            });
            prop_assert!(
                !status.is_server_error(),
                "{status} for {:?}",
                String::from_utf8_lossy(&body)
            );
            prop_assert_eq!(server.count("events"), 0);
            prop_assert_eq!(server.count("alarms"), 0);
            Ok(())
        })
        .unwrap();
    rt.block_on(server.stop());
}
