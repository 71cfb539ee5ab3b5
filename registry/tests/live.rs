//! Live updates and pages: the SSE stream, the clerk page, and HTML escaping of hostile text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Server, Sim};

/// Reads the SSE stream until `want` appears in it.
async fn read_until(resp: &mut reqwest::Response, want: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} in the stream; got {seen:?}"))
            .unwrap()
            .expect("stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

#[tokio::test]
async fn the_stream_announces_a_new_deposit_to_its_department() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;

    // The admin hears every department; a clerk only their own, by their session alone.
    let mut all = server.admin.get("/events/stream").await;
    assert_eq!(all.status().as_u16(), 200);
    assert!(
        all.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let building = server
        .clerk("architekt", "Wydział Architektury i Budownictwa")
        .await;
    // Asking for another department changes nothing: the session decides.
    let mut building = building
        .get("/events/stream?department=Wydzia%C5%82%20Podatk%C3%B3w%20i%20Op%C5%82at")
        .await;
    assert_eq!(building.status().as_u16(), 200);

    let (tax_id, tax, _) = urn.deposit("podatki", None);
    let (build_id, build, _) = urn.deposit("budownictwo", None);
    // Give both subscriptions time to be registered before the push.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.push("GW7K", &[tax, build]).await.0, 200);

    let seen = read_until(&mut all, &build_id.to_string()).await;
    assert!(seen.contains(&tax_id.to_string()), "{seen}");
    assert!(seen.contains("\"created\":true"), "{seen}");
    let seen = read_until(&mut building, &build_id.to_string()).await;
    assert!(
        !seen.contains(&tax_id.to_string()),
        "the filter let another department through: {seen}"
    );
    drop((all, building));
    server.stop().await;
}

#[tokio::test]
async fn the_stream_carries_alarms_and_ends_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let first = urn.door();
    let second = urn.door();
    assert_eq!(server.push("GW7K", &[first.clone(), second]).await.0, 200);

    let mut stream = server
        .clerk("komunikacja", "Wydział Komunikacji")
        .await
        .get("/events/stream")
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_first = records::Hash::link(&records::Hash::GENESIS, &first.canonical);
    let forked = urn.event_at(2, after_first, records::Payload::DoorClosed);
    assert_eq!(server.push("GW7K", &[forked]).await.0, 409);
    let seen = read_until(&mut stream, "\"type\":\"alarm\"").await;
    assert!(seen.contains("GW7K"), "{seen}");

    // Graceful shutdown must not wait forever for an open stream.
    server.stop().await;
}

#[tokio::test]
async fn pages_escape_hostile_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (id, deposit, _) = urn.deposit(
        "<script>alert(1)</script>",
        Some("\"><img src=x onerror=alert(2)>"),
    );
    assert_eq!(server.push("GW7K", &[deposit]).await.0, 200);

    for path in [
        "/".to_owned(),
        format!("/intakes/{id}"),
        "/?fragment=rows".to_owned(),
    ] {
        let (status, page) = server.get_text(&path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains(&id.to_string()), "{path}: {page}");
        assert!(!page.contains("<script>alert(1)"), "{path}: {page}");
        assert!(!page.contains("<img src=x"), "{path}: {page}");
    }
    let (_, page) = server.get_text(&format!("/intakes/{id}")).await;
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{page}"
    );
    // Unknown category: the default department.
    assert!(page.contains("Kancelaria ogólna"), "{page}");

    // A hostile department filter is escaped too, and lists nothing.
    let (status, page) = server
        .get_text("/?department=%3Cscript%3Ealert(3)%3C%2Fscript%3E")
        .await;
    assert_eq!(status, 200);
    assert!(!page.contains("<script>alert(3)"), "{page}");
    assert!(!page.contains(&id.to_string()), "{page}");

    let (status, _) = server.get_text("/intakes/%3Cb%3E").await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn the_clerk_page_filters_by_department_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (a, da, _) = urn.deposit("komunikacja", None);
    let (b, db, _) = urn.deposit("komunikacja", None);
    let (c, dc, _) = urn.deposit("podatki", None);
    assert_eq!(server.push("GW7K", &[da, db, dc]).await.0, 200);

    let (_, page) = server.get_text("/").await;
    let pos = |id: &records::IntakeId| page.find(&format!("data-id=\"{id}\"")).unwrap();
    assert!(pos(&c) < pos(&b) && pos(&b) < pos(&a), "newest first");
    assert!(page.contains("EventSource"));

    let (_, page) = server
        .get_text("/?department=Wydzia%C5%82%20Komunikacji")
        .await;
    assert!(page.contains(&a.to_string()) && page.contains(&b.to_string()));
    assert!(!page.contains(&format!("data-id=\"{c}\"")), "{page}");
    assert!(page.contains("selected>Wydział Komunikacji"), "{page}");
    server.stop().await;
}
