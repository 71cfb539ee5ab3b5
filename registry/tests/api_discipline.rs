//! API discipline: `/openapi.json` describes exactly the routes the server answers, the request
//! timeout cuts a body sent too slowly (storing nothing) but not the live stream, and past the
//! concurrency limit a request is refused at once with 503 instead of waiting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Server, Sim};
use registry::RegistryConfig;
use registry::config::HttpConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limited(request_timeout_secs: u64, max_concurrent_requests: usize) -> RegistryConfig {
    RegistryConfig {
        http: HttpConfig {
            request_timeout_secs,
            max_concurrent_requests,
        },
        ..RegistryConfig::demo()
    }
}

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{code}", "GW7K")
        .replace("{id}", "1")
        .replace("{seal}", "S1")
}

#[tokio::test]
async fn the_document_describes_every_route_the_server_answers_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let resp = server.anonymous_get("/openapi.json").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let served: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut sorted = served.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        registry::openapi::operations(&registry::openapi::document())
    );
    for must in [
        ("POST", "/api/stations/{code}/events"),
        ("GET", "/events/stream"),
        ("POST", "/login"),
        ("GET", "/openapi.json"),
    ] {
        assert!(
            served.contains(&(must.0.to_owned(), must.1.to_owned())),
            "{must:?} is not described"
        );
    }

    let client = common::no_redirects();
    let paths: std::collections::BTreeSet<&String> = served.iter().map(|(_, p)| p).collect();
    for path in paths {
        let url = format!("{}{}", server.url, concrete(path));
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let described = served.contains(&(method.to_owned(), path.clone()));
            if method == "GET" && path == "/events/stream" {
                continue; // never ends; the live tests read it
            }
            let resp = client
                .request(method.parse().unwrap(), &url)
                .header("cookie", &server.admin.cookie)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap();
            if described {
                // A handler answered: the router's own refusals have no body.
                assert!(
                    status != 405 && !(status == 404 && body.is_empty()),
                    "{method} {path} is described but not served ({status})"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not described");
            }
        }
    }
    server.stop().await;
}

/// Routes reach the router only through `.routes(routes!(…))`, which describes them: any other
/// way of adding one is refused here, so the document cannot fall behind the router.
#[test]
fn routes_are_added_only_with_their_descriptions() {
    let source = include_str!("../src/http.rs");
    for undescribed in [
        ".route(",
        ".route_service(",
        ".nest(",
        ".nest_service(",
        ".merge(",
        ".fallback(",
    ] {
        assert!(
            !source.contains(undescribed),
            "registry/src/http.rs adds a route with `{undescribed}`, which /openapi.json \
             would not describe: use `.routes(routes!(handler))` with `#[utoipa::path]`"
        );
    }
    assert!(source.contains("let (router, _) = routes().split_for_parts();"));
}

/// The start of a signed push whose body is `body`, announced but not sent.
fn push_head(server: &Server, sim: &Sim, body: &[u8], extra: &str) -> String {
    let path = format!("/api/stations/{}/events", sim.code);
    let h = records::http_signature::sign_request(
        &sim.key,
        "POST",
        &path,
        body,
        common::now_secs(),
        true,
        common::fresh_nonce(),
    );
    let host = server.url.trim_start_matches("http://");
    format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\ncontent-digest: {}\r\n{}: {}\r\nsignature-input: {}\r\n\
         signature: {}\r\n{}: {}\r\n{extra}\r\n",
        body.len(),
        h.content_digest,
        records::http_signature::CLOCK_HEADER,
        h.clock,
        h.signature_input,
        h.signature,
        records::http_signature::PUBLIC_KEY_HEADER,
        h.public_key,
    )
}

/// Reads from `socket` until `want` has come (or the connection ends).
async fn read_until(socket: &mut TcpStream, want: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(want) {
        let n = tokio::time::timeout(Duration::from_secs(30), socket.read(&mut buf))
            .await
            .expect("the server said nothing")
            .unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn a_push_trickled_slower_than_the_timeout_is_cut_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), limited(2, 64)).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (_, deposit, _) = urn.deposit("podatki", None);
    let events = vec![deposit];
    let body = serde_json::to_vec(&records::api::PushRequest {
        events: events.clone(),
    })
    .unwrap();

    let mut socket = TcpStream::connect(server.url.trim_start_matches("http://"))
        .await
        .unwrap();
    socket
        .write_all(push_head(&server, &urn, &body, "").as_bytes())
        .await
        .unwrap();
    // One byte every 300 ms: the whole body would take minutes; the server waits 2 s.
    let (mut reader, mut writer) = socket.into_split();
    let trickle = {
        let body = body.clone();
        tokio::spawn(async move {
            for byte in body {
                if writer.write_all(&[byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut buf))
            .await
            .expect("the server let the trickle go on")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(server.count("events"), 0);

    // The same events, sent at once, are taken: the cut was the time, not the content.
    let (status, _) = server.push("GW7K", &events).await;
    assert_eq!(status, 200);
    assert_eq!(server.count("events"), 1);
    server.stop().await;
}

#[tokio::test]
async fn past_the_concurrency_limit_a_request_is_refused_at_once_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), limited(30, 1)).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (_, deposit, _) = urn.deposit("podatki", None);
    let body = serde_json::to_vec(&records::api::PushRequest {
        events: vec![deposit],
    })
    .unwrap();

    // The live stream holds no slot: with a limit of 1, other requests still pass beside it.
    let stream = server.admin.get("/events/stream").await;
    assert_eq!(stream.status().as_u16(), 200);
    assert_eq!(server.anonymous_get("/status").await.status().as_u16(), 200);

    // A push whose handler is reading its body (the server asked for it: 100 Continue) holds
    // the only slot.
    let mut socket = TcpStream::connect(server.url.trim_start_matches("http://"))
        .await
        .unwrap();
    socket
        .write_all(push_head(&server, &urn, &body, "expect: 100-continue\r\n").as_bytes())
        .await
        .unwrap();
    let continued = read_until(&mut socket, "\r\n\r\n").await;
    assert!(continued.starts_with("HTTP/1.1 100"), "{continued}");

    let refused = server.anonymous_get("/status").await;
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["error"], "overloaded");
    let refused = server.push("GW7K", &[]).await;
    assert_eq!(refused.0, 503);

    // The push finishes; its slot is free again, and nothing was lost to the refusals.
    socket.write_all(&body).await.unwrap();
    let answer = read_until(&mut socket, "acknowledged").await;
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");
    assert_eq!(server.anonymous_get("/status").await.status().as_u16(), 200);
    assert_eq!(server.count("events"), 1);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn the_live_stream_outlasts_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), limited(2, 64)).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let mut stream = server.admin.get("/events/stream").await;
    assert_eq!(stream.status().as_u16(), 200);
    // Twice the timeout: a stream that the timeout covered would be over by now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (id, deposit, _) = urn.deposit("podatki", None);
    assert_eq!(server.push("GW7K", &[deposit]).await.0, 200);
    let want = id.to_string();
    let mut seen = String::new();
    while !seen.contains(&want) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("no notice came")
            .unwrap()
            .expect("the stream was cut");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    server.stop().await;
}

#[test]
fn the_limits_are_configured_and_checked() {
    let base = "listen = \"127.0.0.1:0\"\ndata_dir = \"/tmp/x\"\ndefault_department = \"K\"\ncategories = []\n";
    let config = registry::ServerConfig::from_toml(base).unwrap();
    assert_eq!(config.http, HttpConfig::default());
    assert_eq!(config.http.request_timeout_secs, 30);
    let config = registry::ServerConfig::from_toml(&format!(
        "{base}[http]\nrequest_timeout_secs = 5\nmax_concurrent_requests = 8\n"
    ))
    .unwrap();
    assert_eq!(config.registry().http.max_concurrent_requests, 8);
    for bad in ["request_timeout_secs = 0", "max_concurrent_requests = 0"] {
        let err = registry::ServerConfig::from_toml(&format!("{base}[http]\n{bad}\n"))
            .unwrap_err()
            .to_string();
        let key = bad.split(' ').next().unwrap();
        assert!(err.contains(key), "{err}");
    }
}

/// Found by schemathesis (content_type_conformance): the clerk page answers a bad search asked
/// with `fragment=` (even empty) in JSON, which the document listed as HTML only.
#[tokio::test]
async fn a_bad_search_on_the_clerk_page_answers_in_a_documented_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let doc: serde_json::Value = server
        .anonymous_get("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let documented = doc["paths"]["/"]["get"]["responses"]["400"]["content"]
        .as_object()
        .unwrap()
        .clone();
    for query in [
        "/?limit=0",
        "/?limit=0&fragment=",
        "/?limit=0&fragment=rows",
    ] {
        let resp = server.admin.get(query).await;
        assert_eq!(resp.status().as_u16(), 400, "{query}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        let media = content_type.split(';').next().unwrap().trim();
        assert!(
            documented.contains_key(media),
            "{query}: {media} is not among {:?}",
            documented.keys().collect::<Vec<_>>()
        );
    }
    server.stop().await;
}
