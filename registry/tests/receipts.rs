//! Receipt checks: genuine, altered, not yet in the register, garbage, and the status page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, Sim};
use records::ReceiptPayload;
use records::api::IntakeStatus;

#[tokio::test]
async fn receipts_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (id, deposit, receipt) = urn.deposit("budownictwo", None);
    assert_eq!(server.push("GW7K", &[deposit]).await.0, 200);

    let v = server.verify(&receipt).await;
    assert!(v.genuine, "{v:?}");
    assert_eq!(v.intake, Some(id));
    assert_eq!(v.status, Some(IntakeStatus::Deposited));

    // Scanners may add a newline or send lower case.
    let v = server
        .verify(&format!("{}\r\n", receipt.to_lowercase()))
        .await;
    assert!(v.genuine, "{v:?}");

    // One character of the signature changed.
    let mut chars: Vec<char> = receipt.chars().collect();
    let at = chars.len() - 20;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let forged: String = chars.into_iter().collect();
    let v = server.verify(&forged).await;
    assert!(!v.genuine, "{v:?}");
    assert_eq!(v.status, None);

    // The time changed: the signature no longer matches.
    let parsed: ReceiptPayload = receipt.parse().unwrap();
    let moved = receipt.replacen(
        &parsed.deposited_at.to_string(),
        &(parsed.deposited_at - 3600).to_string(),
        1,
    );
    assert!(!server.verify(&moved).await.genuine);

    // Signed by the station, but for another time than the register holds.
    let other_time = ReceiptPayload::sign(id, parsed.deposited_at + 60, &urn.key).to_string();
    let v = server.verify(&other_time).await;
    assert!(!v.genuine && v.reason.contains("altered"), "{v:?}");

    // Genuine, but the urn has not sent the deposit yet.
    let later = urn.new_intake_id();
    let pending = ReceiptPayload::sign(later, parsed.deposited_at + 5, &urn.key).to_string();
    let v = server.verify(&pending).await;
    assert!(v.genuine, "{v:?}");
    assert!(v.reason.contains("not in the register yet"), "{v:?}");
    assert_eq!(v.status, None);

    // Another key than the station's.
    let impostor = Sim::new("GW7K", 7);
    let v = server
        .verify(&ReceiptPayload::sign(id, parsed.deposited_at, &impostor.key).to_string())
        .await;
    assert!(!v.genuine, "{v:?}");

    // A station that is not enrolled.
    let stranger = Sim::new("ZZ99", 3);
    let sid = records::IntakeId::new(stranger.code, 1).unwrap();
    let v = server
        .verify(&ReceiptPayload::sign(sid, parsed.deposited_at, &stranger.key).to_string())
        .await;
    assert!(!v.genuine && v.reason.contains("not enrolled"), "{v:?}");

    for garbage in ["", "hello", "URNA1:::::", "<script>alert(1)</script>"] {
        let v = server.verify(garbage).await;
        assert!(!v.genuine, "{garbage:?}: {v:?}");
        assert_eq!(v.intake, None);
        assert!(!v.reason.is_empty());
    }

    // Too long for the endpoint.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/receipts/verify", server.url))
        .body("x".repeat(2048))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    server.stop().await;
}

fn form(receipt: &str) -> String {
    let mut out = String::from("receipt=");
    for b in receipt.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn the_status_page_shows_the_verdict_and_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    let mut other = Sim::new("MR22", 2);
    server.enrol(&urn, "Urna").await;
    server.enrol(&other, "Kancelaria").await;
    let (id, deposit, receipt) = urn.deposit("podatki", Some("SECRET-REF-1"));
    let (other_id, other_deposit, _) = other.deposit("inne", None);
    let ack = records::Payload::Acknowledged {
        intake: id,
        department: common::text("Wydział Podatków i Opłat"),
        clerk: common::text("Anna Nowak"),
    };
    let acknowledged = urn.event(ack);
    assert_eq!(server.push("GW7K", &[deposit, acknowledged]).await.0, 200);
    assert_eq!(server.push("MR22", &[other_deposit]).await.0, 200);

    let (status, page) = server.get_text("/status").await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"receipt\""));

    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(format!("{}/status", server.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let page = post(form(&receipt)).await.unwrap().text().await.unwrap();
    assert!(page.contains("Genuine receipt"), "{page}");
    assert!(page.contains(IntakeStatus::Acknowledged.label()), "{page}");
    assert!(page.contains(&id.to_string()));
    assert!(!page.contains("Anna Nowak"), "staff names leak: {page}");
    assert!(!page.contains("SECRET-REF-1"));
    assert!(!page.contains(&other_id.to_string()));

    let page = post(form("<script>alert(1)</script>"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Not a genuine receipt"), "{page}");
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)"), "{page}");
    server.stop().await;
}

/// Many checks from one address are refused for a while, with the time to wait; another address
/// (here told apart by the local proxy's `X-Forwarded-For`) is not held up, and a genuine receipt
/// from it still reads as genuine.
#[tokio::test]
async fn status_checks_from_one_address_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (_, deposit, receipt) = urn.deposit("podatki", None);
    assert_eq!(server.push("GW7K", &[deposit]).await.0, 200);

    let client = reqwest::Client::new();
    let check = |from: &'static str, path: &'static str, body: String| {
        let request = client
            .post(format!("{}{path}", server.url))
            .header("x-forwarded-for", from);
        let request = if path == "/status" {
            request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&body))
        } else {
            request.body(body)
        };
        request.send()
    };
    // Ten guesses pass (the burst), through either route: they share one allowance.
    for n in 0..10 {
        let path = if n % 2 == 0 {
            "/status"
        } else {
            "/api/receipts/verify"
        };
        let answer = check("203.0.113.5", path, format!("URNA1:GUESS{n}"))
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "guess {n}");
    }
    let refused = check("203.0.113.5", "/status", receipt.clone())
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&wait), "retry after {wait}");
    let page = refused.text().await.unwrap();
    assert!(page.contains("Zbyt wiele sprawdzeń"), "{page}");
    assert!(page.contains("Too many checks"), "{page}");
    let api = check("203.0.113.5", "/api/receipts/verify", receipt.clone())
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 429);
    let error: records::api::ApiError = api.json().await.unwrap();
    assert_eq!(error.error, "rate_limited");

    let other = check("198.51.100.20", "/api/receipts/verify", receipt)
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 200);
    let verdict: records::api::ReceiptVerdict = other.json().await.unwrap();
    assert!(verdict.genuine, "{verdict:?}");
    server.stop().await;
}
