//! Pushing the custody log to the registry. The log is the outbox: the sync sends what comes after
//! the registry's acknowledged seq, in batches, and retries with exponential backoff and jitter
//! while the registry is unreachable. It resumes after a restart of either side by asking the
//! registry where its copy ends.

use std::time::Duration;

use records::StationCode;
use records::api::{ApiError, MAX_PUSH_EVENTS, PushRequest, PushResponse};
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
                let usable = record(&log, &status, ack, &mut ahead_reported).await;
                cursor = Some(usable);
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

/// Records the registry's acknowledgement; returns where the next push starts.
///
/// An acknowledgement beyond this log's end means the log lost events the registry holds (an
/// old copy put back): that is raised as a fault, and pushing goes on from this log's own end,
/// so the next events reach the registry, which sees they differ and raises a fork alarm.
async fn record(
    log: &SharedLog,
    status: &watch::Sender<SyncStatus>,
    ack: u64,
    ahead_reported: &mut bool,
) -> u64 {
    let tip = match log.with(|log| Ok(log.tip().seq)).await {
        Ok(tip) => tip,
        Err(e) => {
            tracing::error!("sync: reading the log: {e}");
            return 0;
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
        return tip;
    }
    if let Err(e) = log.set_acknowledged(ack).await {
        tracing::error!("sync: {e}");
        status.send_modify(|s| s.last_error = Some(e.to_string()));
        return ack;
    }
    status.send_modify(|s| {
        s.acknowledged = ack;
        s.connected = true;
        s.last_error = None;
    });
    ack
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
