//! The registry's OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! Each handler carries its own `#[utoipa::path]` description, and [`crate::http::routes`] builds
//! the router out of those descriptions (utoipa-axum's `OpenApiRouter`), so a route cannot be
//! served without being described. What no handler can say for itself is added here: the
//! security schemes, and the 408 and 503 answers the server's limits give on every route.
//!
//! The API's bodies are `records` types, which stay free of anything but their own vocabulary;
//! [`schemas`] describes them (and the registry's own answers) as they are serialised, and the
//! tests compare those descriptions with real serialised values.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, PartialSchema};

/// The security scheme of a signed station request.
pub const STATION_SIGNATURE: &str = "station_signature";
/// The security scheme of a signed-in clerk.
pub const CLERK_SESSION: &str = "clerk_session";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "urna registry",
        description = "The registry office's server: stations push their signed custody events, \
                       clerks follow their department's mail, residents check their receipts. \
                       JSON routes are under /api/; the other routes are the server-rendered pages.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    modifiers(&Limits, &Security),
    components(schemas(schemas::ApiError)),
    tags(
        (name = "stations", description = "What stations send and ask, signed with their keys"),
        (name = "intakes", description = "The register, for clerks (and stations reading)"),
        (name = "residents", description = "Receipt checks, rate-limited per client"),
        (name = "admin", description = "Fleet health and outgoing notifications, admins only"),
        (name = "reports", description = "Figures and charts"),
        (name = "pages", description = "Server-rendered HTML pages and their forms"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The document's frame: everything but the paths, which [`crate::http::routes`] adds.
pub fn base() -> OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The whole document, as `/openapi.json` serves it.
pub fn document() -> OpenApi {
    let mut doc = crate::http::routes().into_openapi();
    // Modifiers ran on the frame, before the paths were there.
    Limits.modify(&mut doc);
    doc
}

static JSON: LazyLock<String> = LazyLock::new(|| {
    document().to_pretty_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document cannot be written");
        String::from("{}")
    })
});

/// Every (method, path) the document describes, methods in upper case, sorted.
pub fn operations(doc: &OpenApi) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
            ("TRACE", &item.trace),
        ];
        for (method, op) in methods {
            if op.is_some() {
                out.push((method.to_owned(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub(crate) async fn openapi_json() -> axum::response::Response {
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str()).into_response()
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "ApiError",
                    ))))
                    .build(),
            )
            .build(),
    )
}

/// The answers of the server's limits ([`crate::config::HttpConfig`]), which any route may give.
struct Limits;

impl Modify for Limits {
    fn modify(&self, doc: &mut OpenApi) {
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                responses.entry("408".into()).or_insert_with(|| {
                    error_response(
                        "The request took longer than `[http] request_timeout_secs` (a body sent \
                         too slowly included); nothing of it was stored",
                    )
                });
                responses.entry("503".into()).or_insert_with(|| {
                    let mut response = error_response(
                        "`[http] max_concurrent_requests` are being served; try again after \
                         `Retry-After` seconds",
                    );
                    if let RefOr::T(r) = &mut response {
                        r.headers.insert(
                            "Retry-After".into(),
                            utoipa::openapi::HeaderBuilder::new()
                                .schema(i64::schema())
                                .description(Some("Seconds to wait"))
                                .build(),
                        );
                    }
                    response
                });
            }
        }
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            STATION_SIGNATURE,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Signature",
                "A station's request signed with its Ed25519 key in the manner of RFC 9421 \
                 (HTTP Message Signatures) over the method, the path, `Content-Digest` (SHA-256 of \
                 the body), the time and a nonce: the headers `Signature`, `Signature-Input`, \
                 `Content-Digest`, `Urna-Clock` and `Urna-Public-Key` go together. Refused with \
                 401: unknown, pending or revoked keys, another station's key, edited bodies or \
                 paths, replayed nonces, and stale times from a station that trusts its clock.",
            ))),
        );
        components.add_security_scheme(
            CLERK_SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "A clerk's (or the admin's) session, set by `POST /login`: HttpOnly, \
                 SameSite=Strict.",
            ))),
        );
    }
}

/// The API's bodies as they are serialised. Descriptions only: nothing builds these types.
#[allow(dead_code)]
pub mod schemas {
    use utoipa::ToSchema;

    /// What went wrong, for any 4xx answer of a JSON route.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct ApiError {
        /// A stable machine-readable code (`unknown_station`, `unsigned`, `fork`, `chain`,
        /// `bad_request`, `bad_query`, `not_found`, `forbidden`, `unauthenticated`,
        /// `rate_limited`, `timeout`, `overloaded` …).
        error: String,
        /// A sentence for a person.
        message: String,
        /// Where the registry's copy of the station's log ends (on `fork` and `chain`).
        #[schema(minimum = 0)]
        acknowledged: Option<u64>,
        /// The seq the error is about, if any.
        #[schema(minimum = 0)]
        seq: Option<u64>,
    }

    /// A wall-clock reading and whether the station trusted its clock then.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Timestamp {
        /// Milliseconds since 1970-01-01T00:00:00Z.
        unix_ms: i64,
        /// Whether the station believed its clock.
        trusted: bool,
    }

    /// An event as signed by its station.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct SignedEvent {
        /// Its seq in the station's log.
        #[schema(minimum = 0)]
        seq: u64,
        /// The canonical encoding, base64.
        #[schema(content_encoding = "base64")]
        canonical: String,
        /// The signing key's id (hex).
        key_id: String,
        /// The Ed25519 signature, base64.
        #[schema(content_encoding = "base64")]
        signature: String,
    }

    /// A station's events, in seq order, continuing after what the registry acknowledged (at
    /// most 500 events, 4 MiB).
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct PushRequest {
        /// The events.
        events: Vec<SignedEvent>,
    }

    /// The highest seq the registry holds for the station with nothing missing before it.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct PushResponse {
        /// Every event up to and including this seq is stored.
        #[schema(minimum = 0)]
        acknowledged: u64,
    }

    /// What a station reports about itself besides its events (at most 4 KiB). Fields added
    /// later are optional; an unknown field is refused (400).
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct StationReport {
        /// The highest seq in the station's own log (0 for an empty log; at most 2^63 − 1).
        #[schema(minimum = 0)]
        log_tip: u64,
    }

    /// A key rotation statement signed by the old and the new key.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct RotationRequest {
        /// The statement's text.
        statement: String,
    }

    /// An accepted key rotation.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct RotationAccepted {
        /// The station.
        station: String,
        /// The first seq the new key signs.
        #[schema(minimum = 0)]
        from_seq: u64,
        /// The retired key's fingerprint.
        old_fingerprint: String,
        /// The new key's fingerprint.
        new_fingerprint: String,
        /// The same statement had been accepted before; nothing changed.
        replayed: bool,
    }

    /// Where an intake is now.
    #[derive(Debug, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum IntakeStatus {
        Deposited,
        Collected,
        Held,
        Released,
        Forwarded,
        Acknowledged,
    }

    /// How a letter reached the office.
    #[derive(Debug, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Channel {
        Urn,
        Counter,
        Post,
    }

    /// A station's device.
    #[derive(Debug, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Device {
        Scanner,
        Printer,
        Door,
        Slot,
        Registry,
        Storage,
        Urn,
    }

    /// Whether a device alert clears by itself (`fault`) or needs a person (`alarm`).
    #[derive(Debug, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum AlertKind {
        Fault,
        Alarm,
    }

    /// One entry of an intake's custody timeline.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct TimelineEntry {
        /// The station that recorded it.
        station: String,
        /// That station's seq.
        #[schema(minimum = 0)]
        seq: u64,
        /// The event's kind (`deposit`, `collected` …).
        kind: String,
        /// When it was recorded.
        recorded_at: Timestamp,
        /// A short description, may be empty.
        detail: String,
    }

    /// An intake and its custody timeline, oldest first.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct IntakeView {
        /// The intake's id.
        id: String,
        /// The legal date of receipt.
        received_at: Timestamp,
        /// How it came.
        channel: Channel,
        /// Its category as chosen.
        category: String,
        /// The department that handles it.
        department: String,
        /// The reference from the resident's form.
        reference: Option<String>,
        /// Where it is now.
        status: IntakeStatus,
        /// Every event about it.
        timeline: Vec<TimelineEntry>,
    }

    /// The registry's verdict on a receipt.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct ReceiptVerdict {
        /// Signed by an enrolled station's key, unaltered and matching the register.
        genuine: bool,
        /// Why (English).
        reason: String,
        /// The intake's id, if the receipt named a valid one.
        intake: Option<String>,
        /// Where it is now, when genuine and in the register.
        status: Option<IntakeStatus>,
    }

    /// One thing at a station that staff must look at.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct DeviceAlert {
        /// The station's code.
        station: String,
        /// The station's name.
        station_name: String,
        /// The device.
        device: Device,
        /// What is wrong, as the station named it.
        what: String,
        /// Fault or alarm.
        kind: AlertKind,
        /// When the station recorded it.
        since: Timestamp,
        /// The station's event that raised it.
        #[schema(minimum = 0)]
        seq: u64,
    }

    /// Every open device alert, oldest first.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct DeviceAlerts {
        /// The alerts.
        alerts: Vec<DeviceAlert>,
    }

    /// One deposit of an urn collection.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CollectedDeposit {
        /// The intake.
        intake: String,
        /// Envelopes the slot saw fall for it.
        #[schema(minimum = 0)]
        drops_seen: u32,
    }

    /// What an urn recorded for one collection.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CollectionView {
        /// The urn's station code.
        station: String,
        /// The urn's name.
        station_name: String,
        /// The seal on the bag.
        seal: String,
        /// When the urn recorded the collection.
        collected_at: Timestamp,
        /// Envelopes the urn counted since the collection before.
        #[schema(minimum = 0)]
        urn_count: u32,
        /// The two staff who emptied it (badge ids).
        #[schema(min_items = 2, max_items = 2)]
        staff: Vec<String>,
        /// The deposits since the collection before, oldest first.
        deposits: Vec<CollectedDeposit>,
    }

    /// One intake in a search's answer.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct IntakeRow {
        /// The intake's id.
        id: String,
        /// The legal date of receipt.
        received_at: Timestamp,
        /// How it came.
        channel: Channel,
        /// Its category.
        category: String,
        /// Its department.
        department: String,
        /// The reference from the resident's form.
        reference: Option<String>,
        /// Where it is now.
        status: IntakeStatus,
    }

    /// The intakes a search found, newest first.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct SearchAnswer {
        /// How many are listed.
        #[schema(minimum = 0)]
        count: u64,
        /// The intakes.
        intakes: Vec<IntakeRow>,
    }

    /// A department's acknowledgement of an intake.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Acknowledged {
        /// The intake.
        intake: String,
        /// This request recorded it (`false`: it was recorded before).
        recorded: bool,
        /// The registry's event that records it, when this request recorded one.
        #[schema(minimum = 0)]
        seq: Option<u64>,
        /// Always `acknowledged`.
        status: IntakeStatus,
    }

    /// Why a department is told.
    #[derive(Debug, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Reason {
        NewIntake,
        Released,
        Forwarded,
    }

    /// How a delivery reaches its target.
    #[derive(Debug, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TargetKind {
        Webhook,
        Email,
    }

    /// One notification to a department, as queued and tried.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Delivery {
        /// Its id (sent as `X-Urna-Delivery`).
        id: i64,
        /// Why.
        reason: Reason,
        /// The intake.
        intake: String,
        /// The department.
        department: String,
        /// Webhook or e-mail.
        kind: TargetKind,
        /// The URL or the address.
        target: String,
        /// When it was queued (unix ms).
        created_ms: i64,
        /// Attempts made so far.
        #[schema(minimum = 0)]
        attempts: u32,
        /// When the next attempt is due (unix ms); null once delivered.
        next_ms: Option<i64>,
        /// When it was delivered (unix ms).
        delivered_ms: Option<i64>,
        /// When the last attempt was made (unix ms).
        last_ms: Option<i64>,
        /// What the last failed attempt met.
        last_error: Option<String>,
        /// Not delivered after `failing_after` attempts (still retried).
        failing: bool,
    }

    /// One attempt of a delivery.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Attempt {
        /// The delivery.
        delivery: i64,
        /// When it was made (unix ms).
        at_ms: i64,
        /// The HTTP status or SMTP reply code, when the other side answered.
        #[schema(minimum = 0)]
        status: Option<u16>,
        /// What went wrong; null when delivered.
        error: Option<String>,
        /// When the next attempt is due; null when delivered.
        next_ms: Option<i64>,
    }

    /// The newest deliveries (or the failing ones), newest first.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct DeliveryList {
        /// Attempts after which an undelivered notification counts as failing.
        #[schema(minimum = 0)]
        failing_after: u32,
        /// The deliveries.
        deliveries: Vec<Delivery>,
    }

    /// One delivery and every attempt made.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct DeliveryDetail {
        #[serde(flatten)]
        delivery: Delivery,
        /// The attempts, oldest first.
        attempts: Vec<Attempt>,
    }

    /// One open device alert of a station in the fleet view.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct FleetAlert {
        /// The device.
        device: String,
        /// What is wrong.
        what: String,
        /// `fault` or `alarm`.
        kind: String,
        /// Polish, then English.
        text: String,
        /// When the station recorded it (unix ms).
        since_ms: i64,
        /// Whether the station's clock was trusted then.
        since_trusted: bool,
    }

    /// One station's health.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct StationHealth {
        /// Its code.
        code: String,
        /// Its name.
        name: String,
        /// `approved`, `pending`, `retired` or `revoked`: its newest key's state.
        key_state: String,
        /// Its last accepted signed request (unix ms).
        last_seen_ms: Option<i64>,
        /// Quiet for longer than `[fleet] silent_after_secs`.
        silent: bool,
        /// Events the station holds that the registry does not: its reported log tip minus
        /// `acknowledged`, never below 0; null before its first report.
        #[schema(minimum = 0)]
        backlog: Option<u64>,
        /// The highest seq of its own log, as it last reported; null before its first report.
        #[schema(minimum = 0)]
        reported_log_tip: Option<u64>,
        /// When that report came (registry clock, unix ms).
        reported_ms: Option<i64>,
        /// The last seq the registry holds of it.
        #[schema(minimum = 0)]
        acknowledged: u64,
        /// That event's time (unix ms).
        last_event_ms: Option<i64>,
        /// Whether its clock was trusted at its last event.
        clock_trusted: Option<bool>,
        /// `ok`, or the printer's open faults joined by commas.
        printer: String,
        /// Urn deposits since the urn was last emptied.
        #[schema(minimum = 0)]
        urn_fill: Option<u64>,
        /// The station reports the urn full.
        urn_full: bool,
        /// Its open alarms (forks).
        alarms: Vec<String>,
        /// Its open device alerts.
        device_alerts: Vec<FleetAlert>,
    }

    /// The whole fleet.
    #[derive(Debug, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Fleet {
        /// When this was computed (unix ms).
        now_ms: i64,
        /// The configured silence threshold.
        #[schema(minimum = 0)]
        silent_after_secs: u64,
        /// Every enrolled station, by code.
        stations: Vec<StationHealth>,
    }

    /// A search of the register: every parameter narrows it; unknown ones are refused (400).
    #[derive(Debug, utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct SearchParams {
        /// An intake id.
        id: Option<String>,
        /// The reference from the resident's form (at most 64 characters).
        reference: Option<String>,
        /// First day received, `YYYY-MM-DD` (Warsaw time).
        from: Option<String>,
        /// Last day received, `YYYY-MM-DD`.
        to: Option<String>,
        /// A station's code.
        station: Option<String>,
        /// Where it is now.
        status: Option<IntakeStatus>,
        /// An admin's narrowing to one department.
        department: Option<String>,
        /// Most rows, 1 to 1000 (default 200).
        limit: Option<u32>,
    }

    /// `application/x-www-form-urlencoded` sign-in form.
    #[derive(Debug, ToSchema)]
    pub struct LoginForm {
        /// The clerk's username.
        username: String,
        /// The password (at most 1024 bytes).
        password: String,
        /// Where to go after signing in: a path on this server.
        next: Option<String>,
    }

    /// The resident status page's form.
    #[derive(Debug, ToSchema)]
    pub struct StatusForm {
        /// The receipt's text, as scanned from its QR code or typed.
        receipt: String,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use records::api::*;
    use records::{Channel, Device, IntakeId, StationCode, Timestamp};
    use serde_json::{Value, json};

    /// Whether `value` fits `schema` in the terms utoipa writes: types, properties, required,
    /// closed objects, items, enums, references, `allOf`/`oneOf`. Enough to see a description
    /// drift from the type it describes.
    fn fits(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/schemas/");
            return fits(doc, &doc["components"]["schemas"][name], value, at);
        }
        if let Some(all) = schema["allOf"].as_array() {
            if all
                .iter()
                .any(|s| s["type"] == "object" || s["$ref"].is_string())
            {
                // A flattened struct: each part sees only its own fields.
                return Ok(());
            }
            return all.iter().try_for_each(|s| fits(doc, s, value, at));
        }
        if let Some(one) = schema["oneOf"].as_array() {
            return match one.iter().any(|s| fits(doc, s, value, at).is_ok()) {
                true => Ok(()),
                false => Err(format!("{at}: {value} fits no oneOf")),
            };
        }
        if let Some(options) = schema["enum"].as_array()
            && !options.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {options:?}"));
        }
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let allowed: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![kind],
        };
        if !allowed.contains(&kind) {
            return Err(format!("{at}: {value} is {kind}, not {allowed:?}"));
        }
        match value {
            Value::Object(map) => {
                let properties = schema["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for required in schema["required"].as_array().into_iter().flatten() {
                    let name = required.as_str().unwrap_or_default();
                    if !map.contains_key(name) {
                        return Err(format!("{at}: {name} is required but missing"));
                    }
                }
                for (name, v) in map {
                    match properties.get(name) {
                        Some(s) => fits(doc, s, v, &format!("{at}.{name}"))?,
                        None if schema["additionalProperties"] == false => {
                            return Err(format!("{at}: {name} is not described"));
                        }
                        None => {}
                    }
                }
                Ok(())
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| fits(doc, &schema["items"], v, &format!("{at}[{i}]"))),
            _ => Ok(()),
        }
    }

    #[test]
    fn real_bodies_fit_their_descriptions() {
        let doc: Value = serde_json::from_str(&JSON).unwrap();
        let id = IntakeId::new("GW7K".parse::<StationCode>().unwrap(), 7).unwrap();
        let at = Timestamp {
            unix_ms: 1_763_771_171_000,
            trusted: false,
        };
        let key = records::SigningKey::from_bytes(&[1; 32]);
        let mut fleet = crate::fleet::Fleet {
            now_ms: 1,
            silent_after_secs: 900,
            stations: vec![crate::fleet::StationHealth {
                code: "GW7K".into(),
                name: "Urna".into(),
                key_state: "approved".into(),
                last_seen_ms: None,
                silent: true,
                backlog: Some(4),
                reported_log_tip: Some(7),
                reported_ms: Some(5),
                acknowledged: 3,
                last_event_ms: Some(2),
                clock_trusted: Some(false),
                printer: "ok".into(),
                urn_fill: Some(1),
                urn_full: false,
                alarms: vec!["fork".into()],
                device_alerts: vec![crate::fleet::FleetAlert {
                    device: "printer".into(),
                    what: "paper_out".into(),
                    kind: "fault".into(),
                    text: "x".into(),
                    since_ms: 1,
                    since_trusted: true,
                }],
            }],
        };
        // A station that never reported: the same shape, with nulls.
        let mut unreported = fleet.stations[0].clone();
        unreported.code = "MR22".into();
        unreported.backlog = None;
        unreported.reported_log_tip = None;
        unreported.reported_ms = None;
        fleet.stations.push(unreported);
        let cases: Vec<(&str, Value)> = vec![
            (
                "ApiError",
                serde_json::to_value(ApiError {
                    error: "fork".into(),
                    message: "m".into(),
                    acknowledged: Some(2),
                    seq: None,
                })
                .unwrap(),
            ),
            (
                "PushRequest",
                serde_json::to_value(PushRequest {
                    events: vec![records::SignedEvent {
                        seq: 1,
                        canonical: vec![1, 2, 3],
                        key_id: records::KeyId::of(&key.verifying_key()),
                        signature: [7; 64],
                    }],
                })
                .unwrap(),
            ),
            (
                "PushResponse",
                serde_json::to_value(PushResponse { acknowledged: 4 }).unwrap(),
            ),
            (
                "StationReport",
                serde_json::to_value(StationReport { log_tip: 12 }).unwrap(),
            ),
            (
                "IntakeView",
                serde_json::to_value(IntakeView {
                    id,
                    received_at: at,
                    channel: Channel::Post,
                    category: "podatki".into(),
                    department: "D".into(),
                    reference: None,
                    status: IntakeStatus::Held,
                    timeline: vec![TimelineEntry {
                        station: "GW7K".into(),
                        seq: 1,
                        kind: "deposit".into(),
                        recorded_at: at,
                        detail: String::new(),
                    }],
                })
                .unwrap(),
            ),
            (
                "ReceiptVerdict",
                serde_json::to_value(ReceiptVerdict {
                    genuine: true,
                    reason: "r".into(),
                    intake: Some(id),
                    status: None,
                })
                .unwrap(),
            ),
            (
                "DeviceAlerts",
                serde_json::to_value(DeviceAlerts {
                    alerts: vec![DeviceAlert {
                        station: "GW7K".into(),
                        station_name: "Urna".into(),
                        device: Device::Urn,
                        what: "full".into(),
                        kind: AlertKind::Alarm,
                        since: at,
                        seq: 9,
                    }],
                })
                .unwrap(),
            ),
            (
                "CollectionView",
                serde_json::to_value(CollectionView {
                    station: "GW7K".into(),
                    station_name: "Urna".into(),
                    seal: "S1".into(),
                    collected_at: at,
                    urn_count: 2,
                    staff: ["a".into(), "b".into()],
                    deposits: vec![CollectedDeposit {
                        intake: id,
                        drops_seen: 0,
                    }],
                })
                .unwrap(),
            ),
            (
                "RotationAccepted",
                serde_json::to_value(records::rotation::RotationAccepted {
                    station: "GW7K".into(),
                    from_seq: 5,
                    old_fingerprint: "a".into(),
                    new_fingerprint: "b".into(),
                    replayed: false,
                })
                .unwrap(),
            ),
            ("Fleet", serde_json::to_value(&fleet).unwrap()),
            (
                "Attempt",
                serde_json::to_value(crate::outbox::Attempt {
                    delivery: 1,
                    at_ms: 2,
                    status: Some(500),
                    error: Some("HTTP 500".into()),
                    next_ms: None,
                })
                .unwrap(),
            ),
        ];
        for (name, value) in cases {
            let schema = &doc["components"]["schemas"][name];
            assert!(schema.is_object(), "{name} is not in the document");
            fits(&doc, schema, &value, name).unwrap();
        }
        // And the check itself tells a wrong body from a right one.
        let schema = &doc["components"]["schemas"]["PushResponse"];
        assert!(fits(&doc, schema, &json!({"acknowledged": "4"}), "x").is_err());
        assert!(fits(&doc, schema, &json!({"acknowledged": 4, "more": 1}), "x").is_err());
        assert!(fits(&doc, schema, &json!({}), "x").is_err());
    }

    #[test]
    fn the_document_is_openapi_3_1_with_both_security_schemes() {
        let doc: serde_json::Value = serde_json::from_str(&JSON).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes[CLERK_SESSION]["in"], "cookie");
        assert_eq!(schemes[STATION_SIGNATURE]["in"], "header");
        // Every operation says what the limits answer.
        for (method, path) in operations(&document()) {
            let op = &doc["paths"][&path][method.to_lowercase()];
            for status in ["408", "503"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} {status}"
                );
            }
        }
    }
}
