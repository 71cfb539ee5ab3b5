//! Pushing the custody log to the registry. The log is the outbox: the sync sends what comes after
//! the registry's acknowledged seq, in batches, and retries with exponential backoff and jitter
//! while the registry is unreachable. It resumes after a restart of either side by asking the
//! registry where its copy ends.
//!
//! Beside the events, the station reports its log's tip ([`StationReport`]) after a round the
//! registry answered: the first time, then every [`REPORT_EVERY`], and when its backlog has
//! drained (never twice within [`REPORT_GAP`]), so the registry's fleet view can show how much
//! the station still has to send. A report runs beside the sync, never in its way: whatever
//! becomes of it (a registry older than reports answers 404, a refusal, a timeout) is no sync
//! failure, and only pauses the reports.

use std::time::{Duration, Instant};

use records::StationCode;
use records::api::{ApiError, MAX_PUSH_EVENTS, PushRequest, PushResponse, StationReport};
use records::rotation::{RotationAccepted, RotationRequest};
use serde::Serialize;
use tokio::sync::watch;

use crate::shared_log::SharedLog;
use crate::shutdown::Shutdown;
use crate::signed_client::SignedClient;

/// What the station's pages show about the connection to the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// The registry holds every event up to this seq.
    pub acknowledged: u64,
    /// Whether the last attempt reached the registry.
    pub connected: bool,
    /// The last problem, for staff (never shown to residents).
    pub last_error: Option<String>,
    /// The fingerprint of the key requests are signed with: what the registry's admin approves.
    pub key_fingerprint: String,
}

const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_RETRY: Duration = Duration::from_secs(30);
/// Even with nothing new to send, look again this often (the registry may have restarted empty).
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// How often the station reports its log's tip while nothing else calls for a report.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);
/// The least time between two reports, however often the backlog drains.
pub const REPORT_GAP: Duration = Duration::from_secs(5);
/// How long no report is sent after the registry said it takes none: 404 (a registry older than
/// reports) or 400 (one that cannot read this station's newer report). It is asked again then,
/// in case it was upgraded.
pub const REPORT_PAUSE_UNSUPPORTED: Duration = Duration::from_secs(3600);
/// The longest a report may take; it holds up no push meanwhile.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

enum Outcome {
    /// Sent; more may be waiting.
    Sent { more: bool },
    /// Nothing to send.
    Idle,
    /// Try again later.
    Retry(String),
}

/// Runs until `shutdown`, every request signed by `client`.
pub async fn run(
    log: SharedLog,
    station: StationCode,
    client: SignedClient,
    status: watch::Sender<SyncStatus>,
    shutdown: Shutdown,
) {
    status.send_modify(|s| s.key_fingerprint = client.fingerprint());
    let events_url = format!("/api/stations/{station}/events");
    let ack_url = format!("/api/stations/{station}/acknowledged");
    let keys_url = format!("/api/stations/{station}/keys");
    let mut reporter = Reporter::new(format!("/api/stations/{station}/report"));
    // Key rotations recorded in the log go first, once per run: the registry must know the new
    // key before it sees anything the new key signed. Sending one again is harmless.
    let mut rotations_sent = false;
    // Where the registry's copy ends, once known. Unknown after start: ask first.
    let mut cursor: Option<u64> = None;
    let mut delay = FIRST_RETRY;
    let mut ahead_reported = false;
    loop {
        if shutdown.is_triggered() {
            return;
        }
        // A request still in flight when shutdown comes is abandoned: the registry either
        // committed it (and says so next time) or did not.
        let rotations_pending = &mut rotations_sent;
        let attempt = async {
            if !*rotations_pending {
                push_rotations(&client, &keys_url, &log).await?;
                *rotations_pending = true;
            }
            match cursor {
                None => ask_acknowledged(&client, &ack_url)
                    .await
                    .map(|ack| (ack, None)),
                Some(after) => push(&client, &events_url, &log, after)
                    .await
                    .map(|(ack, sent)| (ack, Some((after, sent)))),
            }
        };
        let result = tokio::select! {
            result = attempt => result,
            _ = shutdown.clone().wait() => return,
        };
        let outcome = match result {
            Err(e) => Outcome::Retry(e),
            Ok((ack, pushed)) => {
                let (usable, tip) = record(&log, &status, ack, &mut ahead_reported).await;
                cursor = Some(usable);
                // Only after a round the registry answered: a push with nothing to send asked
                // nothing.
                if let Some(tip) = tip
                    && !matches!(pushed, Some((_, 0)))
                {
                    reporter.after_round(&client, tip, usable).await;
                }
                match pushed {
                    None => Outcome::Sent { more: true },
                    Some((_, 0)) => Outcome::Idle,
                    Some((after, sent)) => Outcome::Sent {
                        more: sent == MAX_PUSH_EVENTS || usable < after.saturating_add(sent as u64),
                    },
                }
            }
        };
        match outcome {
            Outcome::Sent { more } => {
                delay = FIRST_RETRY;
                if more {
                    continue;
                }
            }
            Outcome::Idle => {
                delay = FIRST_RETRY;
                tokio::select! {
                    _ = log.appended() => {}
                    _ = tokio::time::sleep(IDLE_CHECK) => { cursor = None; }
                    _ = shutdown.clone().wait() => return,
                }
                continue;
            }
            Outcome::Retry(problem) => {
                tracing::warn!("sync: {problem}; retrying in about {delay:?}");
                status.send_modify(|s| {
                    s.connected = false;
                    s.last_error = Some(problem);
                });
                // Ask the registry where its copy ends after any failure: a response may have been
                // lost after the registry committed.
                cursor = None;
                let pause = jittered(delay);
                delay = (delay * 2).min(LONGEST_RETRY);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.clone().wait() => return,
                }
            }
        }
    }
}

/// Half to all of `delay`, so many stations coming back together do not knock at once.
fn jittered(delay: Duration) -> Duration {
    let r = getrandom::u64().unwrap_or(0) % 1000;
    delay / 2 + delay / 2 * (r as u32) / 1000
}

/// Records the registry's acknowledgement; returns where the next push starts, and the log's
/// tip (`None` when the log could not be read).
///
/// An acknowledgement beyond this log's end means the log lost events the registry holds (an
/// old copy put back): that is raised as a fault, and pushing goes on from this log's own end,
/// so the next events reach the registry, which sees they differ and raises a fork alarm.
async fn record(
    log: &SharedLog,
    status: &watch::Sender<SyncStatus>,
    ack: u64,
    ahead_reported: &mut bool,
) -> (u64, Option<u64>) {
    let tip = match log.with(|log| Ok(log.tip().seq)).await {
        Ok(tip) => tip,
        Err(e) => {
            tracing::error!("sync: reading the log: {e}");
            return (0, None);
        }
    };
    if ack > tip {
        let problem = format!(
            "the registry holds seq {ack} but this log ends at seq {tip}: the log lost events (was an old copy restored?)"
        );
        tracing::error!("sync: {problem}");
        if !*ahead_reported {
            *ahead_reported = true;
            let fault = records::Payload::FaultRaised {
                device: records::Device::Storage,
                fault: records::Text::sanitized("log_behind_registry"),
            };
            if let Err(e) = log.append(crate::clock::now(), fault).await {
                tracing::error!("sync: fault not recorded: {e}");
            }
        }
        status.send_modify(|s| {
            s.connected = true;
            s.last_error = Some(problem);
        });
        return (tip, Some(tip));
    }
    if let Err(e) = log.set_acknowledged(ack).await {
        tracing::error!("sync: {e}");
        status.send_modify(|s| s.last_error = Some(e.to_string()));
        return (ack, Some(tip));
    }
    status.send_modify(|s| {
        s.acknowledged = ack;
        s.connected = true;
        s.last_error = None;
    });
    (ack, Some(tip))
}

/// What became of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReportAnswer {
    /// The registry kept it.
    Taken,
    /// The registry takes no reports (404, 405: older than reports) or cannot read this one
    /// (400: a field it does not know).
    Unsupported(u16),
    /// Refused for who sent it (401: not enrolled, not approved, revoked; a nonce the network
    /// delivered twice): the sync meets the same refusal and says so.
    Refused(u16, String),
    /// Not answered, or an answer of another kind.
    Failed(String),
}

/// The station's reports of its log's tip: when one is due, sending it beside the sync (one at
/// a time), and what its answer means for the next. Dropping it abandons a report in flight.
#[derive(Debug)]
struct Reporter {
    path: String,
    /// When the last report was sent, whatever became of it.
    last_sent: Option<Instant>,
    /// The tip the registry last kept.
    taken_tip: Option<u64>,
    /// No report before this.
    quiet_until: Option<Instant>,
    /// The registry's "no reports here" has been logged at info once; later ones at debug.
    told_unsupported: bool,
    /// The report on its way, with the tip it carries.
    in_flight: Option<(u64, tokio::task::JoinHandle<ReportAnswer>)>,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some((_, task)) = self.in_flight.take() {
            task.abort();
        }
    }
}

impl Reporter {
    fn new(path: String) -> Reporter {
        Reporter {
            path,
            last_sent: None,
            taken_tip: None,
            quiet_until: None,
            told_unsupported: false,
            in_flight: None,
        }
    }

    /// Whether a report of `tip` is due at `now`, the registry holding everything up to `ack`:
    /// the first one, one every [`REPORT_EVERY`], and one when the backlog has drained since the
    /// tip the registry last kept; never within [`REPORT_GAP`] of the last, while one is on its
    /// way, or while the registry said to keep quiet.
    fn due(&self, now: Instant, tip: u64, ack: u64) -> bool {
        if self.in_flight.is_some() || self.quiet_until.is_some_and(|until| now < until) {
            return false;
        }
        let Some(last) = self.last_sent else {
            return true;
        };
        let since = now.saturating_duration_since(last);
        since >= REPORT_EVERY || (since >= REPORT_GAP && ack >= tip && self.taken_tip != Some(tip))
    }

    /// Takes in what became of the last report, if it has come back.
    async fn settle(&mut self, now: Instant) {
        let Some((tip, task)) = self.in_flight.take_if(|(_, task)| task.is_finished()) else {
            return;
        };
        let answer = task
            .await
            .unwrap_or_else(|e| ReportAnswer::Failed(format!("the report's task failed: {e}")));
        match answer {
            ReportAnswer::Taken => {
                tracing::debug!(log_tip = tip, "sync: the registry took the station report");
                self.taken_tip = Some(tip);
            }
            ReportAnswer::Unsupported(status) => {
                let minutes = REPORT_PAUSE_UNSUPPORTED.as_secs() / 60;
                if self.told_unsupported {
                    tracing::debug!(status, "sync: the registry still takes no station reports");
                } else {
                    self.told_unsupported = true;
                    tracing::info!(
                        status,
                        "sync: the registry takes no station reports (an older registry?);                          syncing goes on, and the next report is sent in {minutes} min"
                    );
                }
                self.quiet_until = Some(now + REPORT_PAUSE_UNSUPPORTED);
            }
            ReportAnswer::Refused(status, detail) => {
                tracing::debug!(status, %detail, "sync: the registry refused the station report");
                self.quiet_until = Some(now + REPORT_EVERY);
            }
            ReportAnswer::Failed(problem) => {
                tracing::debug!(%problem, "sync: the station report did not get through");
            }
        }
    }

    /// After a round the registry answered: sends a report of `tip` if one is due, beside the
    /// sync.
    async fn after_round(&mut self, client: &SignedClient, tip: u64, ack: u64) {
        let now = Instant::now();
        self.settle(now).await;
        if !self.due(now, tip, ack) {
            return;
        }
        self.last_sent = Some(now);
        let task = tokio::spawn(send_report(client.clone(), self.path.clone(), tip));
        self.in_flight = Some((tip, task));
    }
}

/// Sends one report of `tip`; what became of it.
async fn send_report(client: SignedClient, path: String, tip: u64) -> ReportAnswer {
    let report = StationReport { log_tip: tip };
    let response =
        match tokio::time::timeout(REPORT_TIMEOUT, client.post_json(&path, &report)).await {
            Ok(Ok(response)) => response,
            Ok(Err(problem)) => return ReportAnswer::Failed(problem),
            Err(_) => {
                return ReportAnswer::Failed(format!("no answer within {REPORT_TIMEOUT:?}"));
            }
        };
    let status = response.status().as_u16();
    match status {
        200..=299 => ReportAnswer::Taken,
        400 | 404 | 405 => ReportAnswer::Unsupported(status),
        401 | 403 => {
            let detail = match response.json::<ApiError>().await {
                Ok(e) => format!("{} ({})", e.message, e.error),
                Err(_) => "no details".to_owned(),
            };
            ReportAnswer::Refused(status, detail)
        }
        _ => ReportAnswer::Failed(format!("the registry answered {status}")),
    }
}

/// Hands the registry every key rotation recorded in the log, oldest first.
async fn push_rotations(client: &SignedClient, path: &str, log: &SharedLog) -> Result<(), String> {
    let rotations = log
        .with(|log| log.store().rotations())
        .await
        .map_err(|e| format!("reading the log's key rotations: {e}"))?;
    for rotation in rotations {
        let body = RotationRequest {
            statement: rotation.to_string(),
        };
        let response = client.post_json(path, &body).await?;
        let status = response.status();
        if status.is_success() {
            let accepted: RotationAccepted = response
                .json()
                .await
                .map_err(|e| format!("registry answered something unreadable: {e}"))?;
            if !accepted.replayed {
                tracing::info!(
                    old = %accepted.old_fingerprint,
                    new = %accepted.new_fingerprint,
                    from_seq = accepted.from_seq,
                    "sync: the registry accepted the key rotation"
                );
            }
            continue;
        }
        let detail = match response.json::<ApiError>().await {
            Ok(e) => format!("{} ({})", e.message, e.error),
            Err(_) => "no details".to_owned(),
        };
        return Err(format!(
            "the registry refused this station's key rotation ({status}): {detail}"
        ));
    }
    Ok(())
}

async fn ask_acknowledged(client: &SignedClient, path: &str) -> Result<u64, String> {
    read_ack(client.get(path, None).await?).await
}

/// Sends the events after `after`; returns the registry's acknowledgement and how many were sent.
async fn push(
    client: &SignedClient,
    path: &str,
    log: &SharedLog,
    after: u64,
) -> Result<(u64, usize), String> {
    let events = log
        .events_after(after, MAX_PUSH_EVENTS)
        .await
        .map_err(|e| format!("reading the log: {e}"))?;
    if events.is_empty() {
        return Ok((after, 0));
    }
    let first = events[0].signed.seq;
    if first != after + 1 {
        // Retention removed what the registry asks for: only a restored register can take the
        // rest (pushing a gap would only be refused).
        return Err(format!(
            "the registry holds this station's events up to seq {after}, but this log keeps them \
             only from seq {first} on (older ones were removed after the registry had \
             acknowledged them, [retention]); restore the register from its backup"
        ));
    }
    let sent = events.len();
    let body = PushRequest {
        events: events.into_iter().map(|e| e.signed).collect(),
    };
    let response = client.post_json(path, &body).await?;
    Ok((read_ack(response).await?, sent))
}

async fn read_ack(response: reqwest::Response) -> Result<u64, String> {
    let status = response.status();
    if status.is_success() {
        return response
            .json::<PushResponse>()
            .await
            .map(|r| r.acknowledged)
            .map_err(|e| format!("registry answered something unreadable: {e}"));
    }
    let (code, detail) = match response.json::<ApiError>().await {
        Ok(e) => (e.error.clone(), format!("{} ({})", e.message, e.error)),
        Err(_) => (String::new(), "no details".to_owned()),
    };
    Err(match status.as_u16() {
        // Only an unknown station is told to enrol; every other refusal (a key not yet
        // approved, revoked, a request the network delivered twice, a stale or damaged
        // signature) is the registry's own message, which names the cause.
        401 if code == "unknown_station" => {
            format!("the registry does not know this station yet (enrol its key): {detail}")
        }
        401 => detail,
        409 => format!("the registry reports a FORK in this station's log: {detail}"),
        _ => format!("registry refused the events ({status}): {detail}"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The sync against a stand-in for the registry on loopback (a few axum routes, the remote
    //! peer only): the station's own log, client and sync are the real ones.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use records::{Payload, Timestamp};

    use super::*;
    use crate::custody_log::CustodyLog;
    use crate::keys::StationKey;
    use crate::shutdown::shutdown_pair;

    const CODE: &str = "GWU7";

    /// The registry as the station meets it: acknowledgements and pushes answered, reports met
    /// with `report_status` (404 with no body: a registry that has no such route).
    #[derive(Debug, Default)]
    struct Peer {
        held: AtomicU64,
        acknowledged_asks: AtomicU32,
        pushes: AtomicU32,
        reports: AtomicU32,
        last_report_tip: AtomicU64,
        report_status: AtomicU16,
    }

    async fn acknowledged(State(peer): State<Arc<Peer>>) -> Response {
        peer.acknowledged_asks.fetch_add(1, Ordering::SeqCst);
        let acknowledged = peer.held.load(Ordering::SeqCst);
        axum::Json(PushResponse { acknowledged }).into_response()
    }

    async fn events(State(peer): State<Arc<Peer>>, body: Bytes) -> Response {
        peer.pushes.fetch_add(1, Ordering::SeqCst);
        let push: PushRequest = serde_json::from_slice(&body).unwrap();
        if let Some(last) = push.events.last() {
            peer.held.fetch_max(last.seq, Ordering::SeqCst);
        }
        let acknowledged = peer.held.load(Ordering::SeqCst);
        axum::Json(PushResponse { acknowledged }).into_response()
    }

    /// Everything else: a report is counted, then answered as the peer was told.
    async fn other(State(peer): State<Arc<Peer>>, uri: Uri, body: Bytes) -> Response {
        if uri.path() != format!("/api/stations/{CODE}/report") {
            return StatusCode::NOT_FOUND.into_response();
        }
        peer.reports.fetch_add(1, Ordering::SeqCst);
        let report: StationReport = serde_json::from_slice(&body).unwrap();
        peer.last_report_tip.store(report.log_tip, Ordering::SeqCst);
        let status = StatusCode::from_u16(peer.report_status.load(Ordering::SeqCst)).unwrap();
        match status.as_u16() {
            401 => (
                status,
                axum::Json(ApiError {
                    error: "unknown_station".into(),
                    message: "not enrolled here".into(),
                    acknowledged: None,
                    seq: None,
                }),
            )
                .into_response(),
            _ => status.into_response(),
        }
    }

    async fn serve(peer: Arc<Peer>) -> String {
        let app = axum::Router::new()
            .route(
                &format!("/api/stations/{CODE}/acknowledged"),
                get(acknowledged),
            )
            .route(&format!("/api/stations/{CODE}/events"), post(events))
            .fallback(other)
            .with_state(peer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    async fn door(log: &SharedLog, n: usize) {
        for _ in 0..n {
            let at = Timestamp {
                unix_ms: 1_763_771_171_000,
                trusted: false,
            };
            log.append(at, Payload::DoorOpened).await.unwrap();
        }
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs the real sync against a peer that answers reports with `report_status`: every
    /// event still arrives, the sync never reports a problem, never starts over (one look-up of
    /// the acknowledged seq in all), and the report is tried once. With `pause_check`, a later
    /// drained backlog, past [`REPORT_GAP`], brings no second report either.
    async fn sync_beside(report_status: u16, pause_check: bool) {
        let dir = tempfile::tempdir().unwrap();
        let key = StationKey::from_seed([9; 32]);
        let code: StationCode = CODE.parse().unwrap();
        let log = SharedLog::new(
            CustodyLog::open(
                &dir.path().join("custody.db"),
                code,
                StationKey::from_seed([9; 32]),
            )
            .unwrap(),
        );
        let peer = Arc::new(Peer::default());
        peer.report_status.store(report_status, Ordering::SeqCst);
        let url = serve(peer.clone()).await;
        door(&log, 3).await;
        let tip = || async { log.with(|l| Ok(l.tip().seq)).await.unwrap() };
        let first_tip = tip().await;

        let client = SignedClient::new(&url, &key).unwrap();
        let (tx, mut rx) = watch::channel(SyncStatus::default());
        let (trigger, shutdown) = shutdown_pair();
        let task = tokio::spawn(run(log.clone(), code, client, tx, shutdown));
        // Every state the sync shows, watched for a problem.
        let watching = {
            let mut rx = rx.clone();
            tokio::spawn(async move {
                let mut problems = Vec::new();
                while rx.changed().await.is_ok() {
                    if let Some(p) = rx.borrow().last_error.clone() {
                        problems.push(p);
                    }
                }
                problems
            })
        };

        let held = |peer: &Peer| peer.held.load(Ordering::SeqCst);
        until("the first events at the peer", || held(&peer) == first_tip).await;
        until("the report tried", || {
            peer.reports.load(Ordering::SeqCst) == 1
        })
        .await;
        assert_eq!(peer.last_report_tip.load(Ordering::SeqCst), first_tip);

        if pause_check {
            // Past the gap, a drained backlog would be reported to a registry that takes reports.
            tokio::time::sleep(REPORT_GAP + Duration::from_millis(500)).await;
        }
        door(&log, 2).await;
        let second_tip = tip().await;
        until("the later events at the peer", || held(&peer) == second_tip).await;
        rx.wait_for(|s| s.acknowledged == second_tip).await.unwrap();
        // Time for a report the sync should not send to arrive.
        tokio::time::sleep(Duration::from_millis(300)).await;

        let status = rx.borrow().clone();
        assert!(status.connected, "{status:?}");
        assert_eq!(status.last_error, None);
        assert_eq!(
            peer.reports.load(Ordering::SeqCst),
            1,
            "reports kept coming"
        );
        assert_eq!(
            peer.acknowledged_asks.load(Ordering::SeqCst),
            1,
            "the sync started over, as after a failure"
        );
        assert!(peer.pushes.load(Ordering::SeqCst) >= 2);

        trigger.trigger();
        task.await.unwrap();
        let problems = watching.await.unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_registry_without_reports_404_leaves_the_sync_alone_and_is_asked_no_more() {
        sync_beside(404, true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_report_401_leaves_the_sync_alone() {
        sync_beside(401, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_report_the_registry_cannot_read_400_leaves_the_sync_alone() {
        sync_beside(400, false).await;
    }

    #[test]
    fn reports_are_due_first_then_every_minute_and_when_the_backlog_drains() {
        let t0 = Instant::now();
        let mut r = Reporter::new("/r".into());
        assert!(r.due(t0, 10, 0), "the first report goes at once");
        r.last_sent = Some(t0);
        r.taken_tip = Some(10);
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        // Same tip, or a backlog still there: not before the minute.
        assert!(!r.due(at(30), 10, 10));
        assert!(!r.due(at(30), 14, 12));
        assert!(r.due(at(60), 14, 12));
        // Drained to a new tip: at once, but never within the gap.
        assert!(!r.due(at(2), 14, 14));
        assert!(r.due(at(5), 14, 14));
        // A registry that takes no reports is left alone for the pause, whatever happens.
        r.quiet_until = Some(at(5) + REPORT_PAUSE_UNSUPPORTED);
        assert!(!r.due(at(120), 20, 20));
        assert!(!r.due(at(3000), 20, 5));
        assert!(r.due(at(5) + REPORT_PAUSE_UNSUPPORTED, 20, 20));
    }
}
