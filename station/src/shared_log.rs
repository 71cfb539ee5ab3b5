//! The custody log shared by a station's workflow and its sync task. Appends commit with an
//! fsync, so they run on tokio's blocking threads, one at a time; every append wakes the sync.

use std::sync::{Arc, Mutex, MutexGuard};

use records::{IntakeId, Payload, ReceiptPayload, Timestamp};
use tokio::sync::Notify;

use crate::custody_log::{Appended, CustodyLog, Entry};
use crate::error::{Error, Result};
use crate::log_store::StoredEvent;
use crate::metrics::LogCounters;

/// A handle to one station's custody log; cheap to clone.
#[derive(Debug, Clone)]
pub struct SharedLog {
    log: Arc<Mutex<CustodyLog>>,
    appended: Arc<Notify>,
    counters: Arc<LogCounters>,
}

impl SharedLog {
    /// Shares `log`.
    pub fn new(log: CustodyLog) -> SharedLog {
        let counters = LogCounters::new(
            log.tip().seq,
            log.acknowledged().unwrap_or(0),
            crate::metrics::door_open(log.store()),
        );
        SharedLog {
            log: Arc::new(Mutex::new(log)),
            appended: Arc::new(Notify::new()),
            counters: Arc::new(counters),
        }
    }

    /// What `/metrics` shows of the log.
    pub fn counters(&self) -> &LogCounters {
        &self.counters
    }

    fn committed(&self, appended: &[Appended]) {
        self.counters.committed(appended.iter().map(|a| &a.event));
        self.appended.notify_one();
    }

    fn lock(log: &Mutex<CustodyLog>) -> MutexGuard<'_, CustodyLog> {
        // A panic while holding the lock cannot leave a half-written event: SQLite rolls the
        // transaction back. The log itself is still consistent, so carry on.
        log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the log on a blocking thread.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut CustodyLog) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || f(&mut Self::lock(&log)))
            .await
            .map_err(|e| Error::Io {
                path: "custody log worker".into(),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    /// Commits one event; returns after the commit.
    pub async fn append(&self, at: Timestamp, payload: Payload) -> Result<Appended> {
        let appended = self.with(move |log| log.append(at, payload)).await?;
        self.committed(std::slice::from_ref(&appended));
        Ok(appended)
    }

    /// Commits several events in one transaction; returns after the commit.
    pub async fn append_all(&self, entries: Vec<(Timestamp, Payload)>) -> Result<Vec<Appended>> {
        let appended = self
            .with(move |log| {
                log.append_all(entries.into_iter().map(|(at, p)| (at, Entry::Payload(p))))
            })
            .await?;
        self.committed(&appended);
        Ok(appended)
    }

    /// Commits a deposit built around the next intake id; returns after the commit.
    pub async fn append_intake(
        &self,
        at: Timestamp,
        build: impl FnOnce(IntakeId) -> Payload + Send + 'static,
    ) -> Result<Appended> {
        let appended = self.with(move |log| log.append_intake(at, build)).await?;
        self.committed(std::slice::from_ref(&appended));
        Ok(appended)
    }

    /// Signs a receipt's text.
    pub async fn sign_receipt(&self, intake: IntakeId, secs: i64) -> Result<ReceiptPayload> {
        self.with(move |log| Ok(log.sign_receipt(intake, secs)))
            .await
    }

    /// Up to `limit` events after `seq`, oldest first.
    pub async fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.with(move |log| log.store().events_after(seq, limit))
            .await
    }

    /// Records the registry's acknowledgement.
    pub async fn set_acknowledged(&self, seq: u64) -> Result<()> {
        self.with(move |log| log.set_acknowledged(seq)).await?;
        self.counters.acknowledged(seq);
        Ok(())
    }

    /// The events that say how full the urn is (see [`crate::log_store::LogStore::urn_fill_events`]).
    pub async fn urn_fill_events(&self) -> Result<Vec<records::Event>> {
        self.with(|log| log.store().urn_fill_events()).await
    }

    /// Every event about an intake in this log.
    pub async fn events_for_intake(&self, intake: IntakeId) -> Result<Vec<records::Event>> {
        self.with(move |log| log.store().events_for_intake(&intake))
            .await
    }

    /// Resolves when an event was appended since the last call (or immediately if one was).
    pub async fn appended(&self) {
        self.appended.notified().await;
    }
}
