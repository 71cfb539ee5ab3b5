//! E-mail to departments over SMTP (lettre, tokio, rustls): one plain-text message per address
//! and notice, Polish first with English beside it.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpTls};
use crate::outbox::{NoticeBody, Reason};
use crate::webhook::Outcome;

/// The SMTP server, ready to send.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

// By hand, so that no credentials can reach a log through it.
impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `config`, logging in with `password` (read from `password_file`) when a
    /// username is configured, and checking the server's certificate against `ca_pem` (read
    /// from `ca_file`) when given, the public roots otherwise. Errors name the key, never the
    /// password.
    pub fn new(
        config: &SmtpConfig,
        password: Option<String>,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Mailer, String> {
        crate::notifier::install_crypto_provider();
        let host = config.host.as_str();
        let builder = match (config.tls, ca_pem) {
            (SmtpTls::None, _) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            (SmtpTls::Starttls, None) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("notifications.smtp.host: {e}"))?,
            (SmtpTls::Tls, None) => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| format!("notifications.smtp.host: {e}"))?,
            (tls, Some(pem)) => {
                let ca = Certificate::from_pem(pem).map_err(|e| {
                    format!("notifications.smtp.ca_file: not a PEM certificate ({e})")
                })?;
                let params = TlsParameters::builder(host.to_owned())
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(ca)
                    .build_rustls()
                    .map_err(|e| format!("notifications.smtp: TLS settings ({e})"))?;
                let tls = if tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                };
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).tls(tls)
            }
        };
        let mut builder = builder.port(config.port()).timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&config.username, password) {
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let from = config
            .from
            .parse()
            .map_err(|e| format!("notifications.smtp.from: {e}"))?;
        Ok(Mailer {
            transport: builder.build(),
            from,
            timeout,
        })
    }

    /// Sends the notice to `to`.
    pub async fn send(&self, to: &str, body: &NoticeBody, delivery: i64) -> Outcome {
        let message = match self.message(to, body, delivery) {
            Ok(m) => m,
            Err(e) => return Outcome::failed(e),
        };
        // lettre's timeout is per command; this bounds the whole session, so that shutdown
        // waits no longer than one attempt's timeout.
        let sent = tokio::time::timeout(self.timeout, self.transport.send(message)).await;
        match sent {
            Ok(Ok(response)) => Outcome {
                status: Some(u16::from(response.code())),
                error: None,
            },
            Ok(Err(e)) => Outcome {
                status: e.status().map(u16::from),
                error: Some(format!("SMTP: {e}")),
            },
            Err(_) => Outcome::failed("SMTP: timed out"),
        }
    }

    /// The message for `to`.
    pub fn message(&self, to: &str, body: &NoticeBody, delivery: i64) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("{to:?} is not an e-mail address: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject(body))
            .header(ContentType::TEXT_PLAIN)
            .body(text(body, delivery))
            .map_err(|e| format!("building the message: {e}"))
    }
}

/// The subject: what happened, to which letter, Polish then English.
pub fn subject(body: &NoticeBody) -> String {
    let (pl, en) = split(body.event.label());
    format!("{pl}: {id} / {en}: {id}", id = body.intake)
}

fn split(label: &str) -> (&str, &str) {
    label.split_once(" / ").unwrap_or((label, label))
}

/// The message's text: the notice's fields, in Polish, then the same in English.
pub fn text(body: &NoticeBody, delivery: i64) -> String {
    let (event_pl, event_en) = split(body.event.label());
    let (status_pl, status_en) = split(body.status.label());
    let (channel_pl, channel_en) = match body.channel {
        records::Channel::Urn => ("urna", "urn"),
        records::Channel::Counter => ("okienko", "counter"),
        records::Channel::Post => ("poczta", "post"),
    };
    let untrusted = if body.received_at_trusted {
        ("", "")
    } else {
        (
            " (zegar stacji niepewny)",
            " (the station's clock was not trusted)",
        )
    };
    let hint = match body.event {
        Reason::NewIntake => (
            "Pismo jest w rejestrze; trafi do wydziału po kwarantannie.",
            "The letter is in the register; it reaches the department after its hold.",
        ),
        Reason::Released | Reason::Forwarded => (
            "Pismo można odebrać w kancelarii.",
            "The letter can be collected from the registry office.",
        ),
    };
    format!(
        "{event_pl}: {id}\n\
         Wydział: {dep}\n\
         Stan: {status_pl}\n\
         Kategoria: {cat}\n\
         Sposób wpływu: {channel_pl}\n\
         Data wpływu: {at}{u_pl}\n\
         {hint_pl}\n\
         \n\
         {event_en}: {id}\n\
         Department: {dep}\n\
         Status: {status_en}\n\
         Category: {cat}\n\
         Channel: {channel_en}\n\
         Received: {at}{u_en}\n\
         {hint_en}\n\
         \n\
         -- \n\
         Wiadomość wysłana automatycznie przez rejestr urna (powiadomienie nr {delivery}).\n\
         Sent automatically by the urna registry (notification no. {delivery}).\n",
        id = body.intake,
        dep = body.department,
        cat = body.category,
        at = body.received_at,
        u_pl = untrusted.0,
        u_en = untrusted.1,
        hint_pl = hint.0,
        hint_en = hint.1,
    )
}
