//! The durable queue of outgoing notifications, and the rules it runs by (pure).
//!
//! What departments hear of is derived from the register itself, not from the live broadcast
//! (which drops notices for a slow listener): the outbox keeps a cursor over the stored events,
//! and turning the events past it into deliveries moves the cursor in the same transaction. So
//! an event stored is notified once, even when the registry stops between the two. A delivery is
//! a row per target (a webhook URL or an e-mail address); each attempt is logged, and a failed
//! one is retried with [`retry_delay`], without end: after
//! [`crate::RetryConfig::failing_after`] failures it is shown to the admin as failing.
//!
//! Storage is behind [`OutboxStore`], beside [`crate::RegisterStore`], so that a PostgreSQL
//! backend can keep its own queue.

use std::time::Duration;

use records::api::IntakeStatus;
use records::{Channel, IntakeId};
use serde::{Deserialize, Serialize};

use crate::config::{NotificationsConfig, RetryConfig};
use crate::error::Result;
use crate::store::IntakeRecord;

/// Why a department is told: the register changes it cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A new intake for the department appeared in the register.
    NewIntake,
    /// Its hold is over: the mail may be handled.
    Released,
    /// It was forwarded to the department.
    Forwarded,
}

impl Reason {
    /// The event kind (see `records::Payload::kind_name`) that gives this reason, if any.
    pub fn for_event_kind(kind: &str) -> Option<Reason> {
        match kind {
            "deposit" => Some(Reason::NewIntake),
            "hold_released" => Some(Reason::Released),
            "forwarded" => Some(Reason::Forwarded),
            _ => None,
        }
    }

    /// The name stored and sent: `new_intake`, `released`, `forwarded`.
    pub fn name(self) -> &'static str {
        match self {
            Reason::NewIntake => "new_intake",
            Reason::Released => "released",
            Reason::Forwarded => "forwarded",
        }
    }

    /// Parses [`Reason::name`].
    pub fn from_name(name: &str) -> Option<Reason> {
        [Reason::NewIntake, Reason::Released, Reason::Forwarded]
            .into_iter()
            .find(|r| r.name() == name)
    }

    /// What the department reads: Polish, then English.
    pub fn label(self) -> &'static str {
        match self {
            Reason::NewIntake => "Nowe pismo / New letter",
            Reason::Released => "Pismo zwolnione z kwarantanny / Letter released from its hold",
            Reason::Forwarded => {
                "Pismo przekazane do wydziału / Letter forwarded to the department"
            }
        }
    }
}

/// How a delivery reaches its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// An HTTP POST of the signed JSON body.
    Webhook,
    /// One e-mail message.
    Email,
}

impl TargetKind {
    /// `webhook` or `email`.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::Email => "email",
        }
    }

    /// Parses [`TargetKind::name`].
    pub fn from_name(name: &str) -> Option<TargetKind> {
        match name {
            "webhook" => Some(TargetKind::Webhook),
            "email" => Some(TargetKind::Email),
            _ => None,
        }
    }
}

/// What is sent: the webhook's JSON body, and what the e-mail says. No personal data: the
/// sender's name and the letter's reference stay in the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeBody {
    /// Why the department is told.
    pub event: Reason,
    /// The intake.
    pub intake: IntakeId,
    /// The department told.
    pub department: String,
    /// Where the intake was when the notice was queued (moments after the change was stored).
    pub status: IntakeStatus,
    /// Its category id.
    pub category: String,
    /// How it came.
    pub channel: Channel,
    /// The legal date of receipt, RFC 3339 in UTC.
    pub received_at: String,
    /// Whether the station trusted its clock when it took the intake.
    pub received_at_trusted: bool,
}

impl NoticeBody {
    /// The notice for `intake` as it is now.
    pub fn new(reason: Reason, intake: &IntakeRecord) -> NoticeBody {
        let received_at = jiff::Timestamp::from_millisecond(intake.received_at.unix_ms)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| intake.received_at.unix_ms.to_string());
        NoticeBody {
            event: reason,
            intake: intake.id,
            department: intake.department.clone(),
            status: intake.status,
            category: intake.category.clone(),
            channel: intake.channel,
            received_at,
            received_at_trusted: intake.received_at.trusted,
        }
    }
}

/// An event past the outbox's cursor, with its intake's current row (`None` when the event is
/// about no intake, or the register has no row for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The event's place in the store's order (the cursor's unit).
    pub position: i64,
    /// Its kind name.
    pub kind: String,
    /// Its intake as the register has it now.
    pub intake: Option<IntakeRecord>,
}

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The position of the event it comes from: with the target, it makes queueing idempotent.
    pub position: i64,
    /// Why.
    pub reason: Reason,
    /// The intake.
    pub intake: IntakeId,
    /// The department.
    pub department: String,
    /// Webhook or e-mail.
    pub kind: TargetKind,
    /// The URL or the address.
    pub target: String,
    /// The [`NoticeBody`] as JSON: what every attempt sends, byte for byte.
    pub payload: String,
}

/// A queued delivery as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Row id, sent as `X-Urna-Delivery` so a receiver can drop a repeat.
    pub id: i64,
    /// Why.
    pub reason: Reason,
    /// The intake.
    pub intake: IntakeId,
    /// The department.
    pub department: String,
    /// Webhook or e-mail.
    pub kind: TargetKind,
    /// The URL or the address.
    pub target: String,
    /// The JSON body.
    #[serde(skip)]
    pub payload: String,
    /// When it was queued (unix ms).
    pub created_ms: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (unix ms); `None` once delivered.
    pub next_ms: Option<i64>,
    /// When it was delivered (unix ms).
    pub delivered_ms: Option<i64>,
    /// When the last attempt was made (unix ms).
    pub last_ms: Option<i64>,
    /// What the last failed attempt met (`HTTP 500`, a timeout …); `None` after a success.
    pub last_error: Option<String>,
}

impl Delivery {
    /// Not delivered after `failing_after` attempts: shown to the admin (and still retried).
    pub fn failing(&self, failing_after: u32) -> bool {
        self.delivered_ms.is_none() && self.attempts >= failing_after
    }
}

/// One attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The delivery.
    pub delivery: i64,
    /// When it was made (unix ms).
    pub at_ms: i64,
    /// The HTTP status, or the SMTP reply code, when the other side answered.
    pub status: Option<u16>,
    /// What went wrong; `None` when delivered.
    pub error: Option<String>,
    /// When the next attempt is due; `None` when delivered.
    pub next_ms: Option<i64>,
}

/// The outbox's storage. Blocking, like [`crate::RegisterStore`]; every method is one
/// transaction.
pub trait OutboxStore: Send + Sync + std::fmt::Debug {
    /// Up to `limit` stored events past the cursor, in store order, each with its intake's
    /// current row.
    fn triggers(&self, limit: usize) -> Result<Vec<Trigger>>;
    /// Queues `deliveries` and moves the cursor to `through`, all or nothing. A delivery already
    /// queued (same position and target) is not queued again.
    fn enqueue(&self, through: i64, deliveries: &[NewDelivery], now_ms: i64) -> Result<()>;
    /// Undelivered deliveries due at `now_ms`, the most overdue first.
    fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>>;
    /// When the next undelivered delivery is due.
    fn next_due_ms(&self) -> Result<Option<i64>>;
    /// Logs attempts and updates their deliveries, all or nothing: delivered when an attempt's
    /// `error` is `None`, otherwise due again at its `next_ms`. (One transaction for a round of
    /// attempts: with `synchronous=FULL` each commit is a disk flush.)
    fn record_attempts(&self, attempts: &[Attempt]) -> Result<()>;
    /// The newest deliveries; only those undelivered after `failing_after` attempts when given.
    fn deliveries(&self, failing_after: Option<u32>, limit: usize) -> Result<Vec<Delivery>>;
    /// One delivery.
    fn delivery(&self, id: i64) -> Result<Option<Delivery>>;
    /// Every attempt of a delivery, oldest first.
    fn attempts(&self, delivery: i64) -> Result<Vec<Attempt>>;
    /// How many deliveries are not delivered yet, and how many of those have failed at least
    /// `failing_after` attempts (for `/metrics`).
    fn undelivered(&self, failing_after: u32) -> Result<(u64, u64)>;
}

/// The deliveries one event calls for under `config`: one per webhook and per address of the
/// intake's department, for the changes departments care about.
pub fn plan(trigger: &Trigger, config: &NotificationsConfig) -> Vec<NewDelivery> {
    let (Some(reason), Some(intake)) = (Reason::for_event_kind(&trigger.kind), &trigger.intake)
    else {
        return Vec::new();
    };
    let Some(targets) = config.department(&intake.department) else {
        return Vec::new();
    };
    let body = NoticeBody::new(reason, intake);
    let Ok(payload) = serde_json::to_string(&body) else {
        return Vec::new();
    };
    let hooks = targets
        .webhooks
        .iter()
        .map(|h| (TargetKind::Webhook, h.url.clone()));
    let mails = targets
        .emails
        .iter()
        .map(|a| (TargetKind::Email, a.clone()));
    hooks
        .chain(mails)
        .map(|(kind, target)| NewDelivery {
            position: trigger.position,
            reason,
            intake: intake.id,
            department: intake.department.clone(),
            kind,
            target,
            payload: payload.clone(),
        })
        .collect()
}

/// The wait before the attempt after `failures` failed ones (1 for the first retry): `first_ms`
/// doubled per failure, capped at `max_ms`, then scaled by `jitter` (0.0 to 1.0) into its upper
/// half, so that deliveries failing together do not retry in lockstep. Never zero; for a fixed
/// jitter it never shrinks as failures grow.
pub fn retry_delay(policy: &RetryConfig, failures: u32, jitter: f64) -> Duration {
    let first = policy.first_ms.max(1);
    let cap = policy.max_ms.max(first);
    let doublings = failures.saturating_sub(1).min(63);
    let base = first.checked_shl(doublings).unwrap_or(u64::MAX);
    // Past 2^63 the shift wraps; a base that did not grow has overflowed.
    let base = if doublings > 0 && base < first {
        cap
    } else {
        base.min(cap)
    };
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let half = base / 2;
    let spread = ((base - half) as f64 * jitter) as u64;
    Duration::from_millis((half + spread).clamp(1, cap))
}

/// A fresh jitter in `0.0 ..= 1.0`.
pub fn jitter() -> f64 {
    match getrandom::u32() {
        Ok(n) => f64::from(n) / f64::from(u32::MAX),
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn policy(first_ms: u64, max_ms: u64) -> RetryConfig {
        RetryConfig {
            first_ms,
            max_ms,
            attempt_timeout_ms: 1000,
            failing_after: 3,
        }
    }

    #[test]
    fn doubles_then_caps() {
        let p = policy(1000, 10_000);
        let ms = |n| retry_delay(&p, n, 1.0).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5), ms(50)],
            [1000, 2000, 4000, 8000, 10_000, 10_000]
        );
        assert_eq!(retry_delay(&p, 1, 0.0).as_millis(), 500);
    }

    #[test]
    fn reasons_round_trip() {
        for r in [Reason::NewIntake, Reason::Released, Reason::Forwarded] {
            assert_eq!(Reason::from_name(r.name()), Some(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.name())
            );
        }
    }

    proptest! {
        #[test]
        fn backoff_is_monotone_capped_and_never_zero(
            first in 1u64..=7 * 24 * 3_600_000,
            extra in 0u64..=7 * 24 * 3_600_000,
            n in 0u32..=200,
            jitter in prop_oneof![0.0f64..=1.0, Just(f64::NAN), Just(-3.0), Just(7.0)],
        ) {
            let p = policy(first, first.saturating_add(extra));
            let now = retry_delay(&p, n, jitter);
            let next = retry_delay(&p, n + 1, jitter);
            prop_assert!(now >= Duration::from_millis(1));
            prop_assert!(now <= Duration::from_millis(p.max_ms));
            prop_assert!(next >= now, "{next:?} < {now:?}");
        }

        #[test]
        fn backoff_reaches_the_cap(first in 1u64..=100_000, extra in 0u64..=10_000_000) {
            let p = policy(first, first + extra);
            prop_assert_eq!(retry_delay(&p, 200, 1.0), Duration::from_millis(p.max_ms));
        }
    }
}
