//! The delivery worker: turns the outbox's journal into deliveries, sends what is due, logs
//! every attempt and schedules the next one. [`crate::serve`] starts it and stops it at shutdown.
//!
//! The register is the source of truth: the live broadcast only wakes the worker early, and a
//! poll every [`POLL`] catches anything a dropped notice would have announced.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::config::{MIN_SECRET_BYTES, NotificationsConfig, RetryConfig};
use crate::error::{Error, Result};
use crate::mail::Mailer;
use crate::outbox::{self, Attempt, Delivery, NoticeBody, TargetKind};
use crate::registry::Registry;
use crate::store::RegisterStore;
use crate::webhook::{Outcome, WebhookClient};

/// The longest the worker sleeps without looking at the outbox.
const POLL: Duration = Duration::from_secs(2);
/// The shortest time between two rounds started by live notices. Ingest sends a notice for
/// every intake it stores, hundreds a second under a fleet's load; a round per notice took the
/// register's one write connection three times (and committed whenever the journal had grown)
/// while ingest's next batch waited for that connection. A clerk does not notice a quarter of
/// a second.
const WAKE_GAP: Duration = Duration::from_millis(250);
/// Journal rows read per transaction.
const JOURNAL_BATCH: usize = 256;
/// Deliveries taken per round.
const DUE_BATCH: usize = 64;
/// Attempts in flight at once.
const CONCURRENCY: usize = 16;
/// Wait after the store itself failed, before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Installs rustls' ring provider as the process default (webhooks' HTTPS and SMTP's TLS use
/// it); a provider installed earlier is kept.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A secret read from a file: a trailing newline (as editors leave) is not part of it.
fn read_secret(key: &str, path: &Path) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let mut bytes =
        Zeroizing::new(std::fs::read(path).map_err(|e| format!("{key} {}: {e}", path.display()))?);
    while bytes.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(bytes)
}

/// What the worker sends with: the webhook secrets, the mailer, the retry policy. No `Debug`:
/// it holds the secrets.
struct Senders {
    // (department, url) → secret; the same URL may serve two departments with two secrets.
    secrets: HashMap<(String, String), Zeroizing<Vec<u8>>>,
    webhooks: WebhookClient,
    mailer: Option<Mailer>,
    retry: RetryConfig,
}

impl Senders {
    /// Reads the secret files and builds the clients. Errors name the key and the file, never a
    /// secret.
    fn load(config: &NotificationsConfig) -> std::result::Result<Senders, String> {
        let timeout = Duration::from_millis(config.retry.attempt_timeout_ms);
        let mut secrets = HashMap::new();
        for (i, dep) in config.departments.iter().enumerate() {
            for (j, hook) in dep.webhooks.iter().enumerate() {
                let key = format!("notifications.departments[{i}].webhooks[{j}]");
                let secret = match (&hook.secret_file, &hook.secret) {
                    (Some(path), _) => {
                        let s = read_secret(&format!("{key}.secret_file"), path)?;
                        if s.len() < MIN_SECRET_BYTES {
                            return Err(format!(
                                "{key}.secret_file {}: the secret is shorter than \
                                 {MIN_SECRET_BYTES} bytes",
                                path.display()
                            ));
                        }
                        s
                    }
                    (None, Some(s)) => Zeroizing::new(s.0.as_bytes().to_vec()),
                    (None, None) => return Err(format!("{key}: no secret_file")),
                };
                secrets.insert((dep.department.clone(), hook.url.clone()), secret);
            }
        }
        let mailer = match &config.smtp {
            Some(smtp) => {
                let password = match &smtp.password_file {
                    Some(path) => {
                        let bytes = read_secret("notifications.smtp.password_file", path)?;
                        Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                            format!(
                                "notifications.smtp.password_file {}: not UTF-8 text",
                                path.display()
                            )
                        })?)
                    }
                    None => None,
                };
                let ca = match &smtp.ca_file {
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        format!("notifications.smtp.ca_file {}: {e}", path.display())
                    })?),
                    None => None,
                };
                Some(Mailer::new(smtp, password, ca.as_deref(), timeout)?)
            }
            None => None,
        };
        Ok(Senders {
            secrets,
            webhooks: WebhookClient::new(timeout)?,
            mailer,
            retry: config.retry,
        })
    }

    async fn attempt(&self, d: &Delivery) -> Outcome {
        match d.kind {
            TargetKind::Webhook => {
                match self.secrets.get(&(d.department.clone(), d.target.clone())) {
                    Some(secret) => {
                        self.webhooks
                            .send(&d.target, secret, d.id, &d.payload)
                            .await
                    }
                    None => Outcome::failed(
                        "this webhook is no longer in [notifications] (restore it, or the \
                         delivery stays failing)",
                    ),
                }
            }
            TargetKind::Email => {
                let Some(mailer) = &self.mailer else {
                    return Outcome::failed("no [notifications.smtp] is configured");
                };
                match serde_json::from_str::<NoticeBody>(&d.payload) {
                    Ok(body) => mailer.send(&d.target, &body, d.id).await,
                    Err(e) => Outcome::failed(format!("stored notice unreadable: {e}")),
                }
            }
        }
    }
}

/// The running worker.
#[derive(Debug)]
pub struct Notifier {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Notifier {
    /// Starts the worker for `registry`'s `[notifications]`. Fails (naming the key) when a
    /// secret file cannot be read or the SMTP settings are unusable.
    pub fn start(registry: Registry) -> Result<Notifier> {
        let config = registry.config().notifications.clone();
        let senders = Senders::load(&config).map_err(Error::Config)?;
        let (stop, stopped) = watch::channel(false);
        let worker = Worker {
            store: registry.store(),
            config,
            senders: Arc::new(senders),
        };
        let task = tokio::spawn(worker.run(registry, stopped));
        Ok(Notifier { stop, task })
    }

    /// Stops the worker: attempts in flight finish (each bounded by its timeout), nothing new
    /// starts; what is left stays queued for the next start.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "notification worker ended badly");
        }
    }
}

/// How a wait between rounds ended.
#[derive(Debug, PartialEq, Eq)]
enum Waited {
    /// Time for the next round.
    Round,
    /// Stop was asked for, or its sender is gone (the server's future dropped).
    Stop,
}

/// Waits `pause` after the round that started at `last_round`, or less when a notice says the
/// journal grew: then until [`WAKE_GAP`] after that round. A stop ends any of these waits at
/// once.
async fn wait_for_work(
    pause: Duration,
    last_round: tokio::time::Instant,
    wake: &mut tokio::sync::broadcast::Receiver<crate::notify::Notice>,
    stopped: &mut watch::Receiver<bool>,
) -> Waited {
    let (until, notified) = tokio::select! {
        () = tokio::time::sleep(pause) => return Waited::Round,
        // Any notice, or a lag, is a hint that the journal grew.
        woke = wake.recv() => match woke {
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                (tokio::time::Instant::now() + pause, false)
            }
            _ => (last_round + WAKE_GAP, true),
        },
        changed = stopped.changed() => return stop_asked(changed, stopped),
    };
    tokio::select! {
        () = tokio::time::sleep_until(until) => {}
        changed = stopped.changed() => return stop_asked(changed, stopped),
    }
    if notified {
        // The notices sent meanwhile all say the same: the journal grew, and the next round
        // reads it whole.
        *wake = wake.resubscribe();
    }
    Waited::Round
}

/// What a change of the stop flag means: a stop, unless it was set back to `false`.
fn stop_asked(
    changed: std::result::Result<(), watch::error::RecvError>,
    stopped: &watch::Receiver<bool>,
) -> Waited {
    if changed.is_err() || *stopped.borrow() {
        Waited::Stop
    } else {
        Waited::Round
    }
}

struct Worker {
    store: Arc<dyn RegisterStore>,
    config: NotificationsConfig,
    senders: Arc<Senders>,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Worker {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn RegisterStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }

    async fn run(self, registry: Registry, mut stopped: watch::Receiver<bool>) {
        let mut wake = registry.subscribe();
        drop(registry);
        tracing::info!(
            targets = self.config.has_targets(),
            "notification worker started"
        );
        loop {
            if *stopped.borrow() {
                break;
            }
            let last_round = tokio::time::Instant::now();
            let pause = match self.round().await {
                Ok(pause) => pause,
                Err(e) => {
                    tracing::error!(error = %e, "notification outbox failed; retrying");
                    STORE_RETRY
                }
            };
            if pause.is_zero() {
                continue;
            }
            if wait_for_work(pause, last_round, &mut wake, &mut stopped).await == Waited::Stop {
                break;
            }
        }
        tracing::info!("notification worker stopped");
    }

    /// Queues what the journal holds, sends what is due; returns how long to wait before the
    /// next round (zero when more is due already).
    async fn round(&self) -> Result<Duration> {
        self.drain_journal().await?;
        let now = now_ms();
        let due = self.blocking(move |s| s.due(now, DUE_BATCH)).await?;
        let full = due.len() == DUE_BATCH;
        let attempts: Vec<Attempt> = futures_util::stream::iter(due)
            .map(|d| {
                let senders = Arc::clone(&self.senders);
                async move { attempt(&senders, &d).await }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        if !attempts.is_empty() {
            self.blocking(move |s| s.record_attempts(&attempts)).await?;
        }
        if full {
            return Ok(Duration::ZERO);
        }
        let next = self.blocking(|s| s.next_due_ms()).await?;
        Ok(match next {
            Some(at) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(POLL),
            None => POLL,
        })
    }

    async fn drain_journal(&self) -> Result<()> {
        loop {
            let triggers = self.blocking(|s| s.triggers(JOURNAL_BATCH)).await?;
            let Some(through) = triggers.last().map(|t| t.position) else {
                return Ok(());
            };
            let planned: Vec<_> = triggers
                .iter()
                .flat_map(|t| outbox::plan(t, &self.config))
                .collect();
            if !planned.is_empty() {
                tracing::info!(deliveries = planned.len(), "notifications queued");
            }
            let done = triggers.len() < JOURNAL_BATCH;
            self.blocking(move |s| s.enqueue(through, &planned, now_ms()))
                .await?;
            if done {
                return Ok(());
            }
        }
    }
}

async fn attempt(senders: &Senders, d: &Delivery) -> Attempt {
    let at_ms = now_ms();
    let outcome = senders.attempt(d).await;
    let next_ms = outcome.error.as_ref().map(|_| {
        let wait = outbox::retry_delay(&senders.retry, d.attempts + 1, outbox::jitter());
        now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
    });
    // The target is not logged: a webhook URL may carry a token.
    match &outcome.error {
        None => {
            tracing::info!(delivery = d.id, kind = d.kind.name(), department = %d.department, intake = %d.intake, "notification delivered")
        }
        Some(error) => tracing::warn!(
            delivery = d.id,
            kind = d.kind.name(),
            department = %d.department,
            attempt = d.attempts + 1,
            error = %error,
            failing = d.attempts + 1 >= senders.retry.failing_after,
            "notification not delivered; will retry"
        ),
    }
    Attempt {
        delivery: d.id,
        at_ms,
        status: outcome.status,
        error: outcome.error,
        next_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Notice;
    use tokio::sync::broadcast;
    use tokio::time::Instant;

    fn a_notice() -> Notice {
        Notice::DeviceAlerts {
            station: "GW7K".into(),
        }
    }

    /// A notice shortens the wait to the gap after the last round, and the notices sent during
    /// the gap are not waited for again: the round after the gap reads the journal whole.
    #[tokio::test(start_paused = true)]
    async fn a_notice_ends_the_wait_a_gap_after_the_last_round() {
        let (notices, mut wake) = broadcast::channel(16);
        let (_stop, mut stopped) = watch::channel(false);
        let last_round = Instant::now();
        notices.send(a_notice()).unwrap();
        let sender = notices.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sender.send(a_notice()).unwrap();
        });
        let waited = wait_for_work(POLL, last_round, &mut wake, &mut stopped).await;
        assert_eq!(waited, Waited::Round);
        assert_eq!(last_round.elapsed(), WAKE_GAP);
        assert!(matches!(
            wake.try_recv(),
            Err(broadcast::error::TryRecvError::Empty)
        ));
    }

    /// A stop asked for while the worker waits out the gap ends the wait at once, not when the
    /// gap is over.
    #[tokio::test(start_paused = true)]
    async fn a_stop_during_the_gap_ends_the_wait_at_once() {
        let (notices, mut wake) = broadcast::channel(16);
        let (stop, mut stopped) = watch::channel(false);
        notices.send(a_notice()).unwrap();
        let last_round = Instant::now();
        let waiting =
            tokio::spawn(
                async move { wait_for_work(POLL, last_round, &mut wake, &mut stopped).await },
            );
        // The notice is taken at once; the gap has 240 ms left.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished());
        stop.send_replace(true);
        let waited = tokio::time::timeout(Duration::from_millis(100), waiting)
            .await
            .expect("the stop ended the wait before the gap would have")
            .unwrap();
        assert_eq!(waited, Waited::Stop);
        assert!(last_round.elapsed() < WAKE_GAP);
    }

    /// Without notices the wait is the whole pause, unless a stop comes first.
    #[tokio::test(start_paused = true)]
    async fn without_notices_the_wait_is_the_pause_or_until_a_stop() {
        let (_notices, mut wake) = broadcast::channel::<Notice>(16);
        let (stop, mut stopped) = watch::channel(false);
        let started = Instant::now();
        let waited = wait_for_work(POLL, started, &mut wake, &mut stopped).await;
        assert_eq!((waited, started.elapsed()), (Waited::Round, POLL));
        stop.send_replace(true);
        let waited = wait_for_work(POLL, Instant::now(), &mut wake, &mut stopped).await;
        assert_eq!(waited, Waited::Stop);
    }
}
