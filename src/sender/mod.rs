//! Sending webhooks: test sends, fired events through the durable outbox, redelivery.
//!
//! [`Sender`] is the handle the web layer and the CLI use; [`worker`] drains the outbox in the
//! background; [`crate::outbound`] makes the HTTP requests; [`signing`] and [`retry`] are pure.
//! Every delivery is a POST of a flat JSON object, signed per Standard Webhooks, with the event
//! slug in `webhook-event`; the bytes sent are the bytes stored, so the log shows exactly what
//! went out.

pub mod pace;
pub mod retry;
pub mod signing;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;

use crate::catalog::Catalog;
use crate::model::{Attempt, Delivery, DeliveryId, DueDelivery, EventId, Webhook, WebhookId};
use crate::outbound::{self, Client};
use crate::payload::Payload;
use crate::store::{Next, Store, StoreError, WebhookFields, WebhookPatch};
use retry::RetrySchedule;

/// The User-Agent of every delivery.
pub const USER_AGENT: &str = concat!("hookbin/", env!("CARGO_PKG_VERSION"));

/// How long past its timeout a claimed delivery stays leased before another claim may take it.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Why a send could not be made or recorded.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Invalid(String),
    #[error("no event '{0}' in the catalog")]
    UnknownEvent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a webhook form or API call asks for, before validation.
#[derive(Clone, Debug, Default)]
pub struct WebhookInput {
    pub name: Option<String>,
    pub url: Option<String>,
    pub event: Option<String>,
    pub active: Option<bool>,
}

/// The confirmation shown after **Send Test Event**.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TestResult {
    pub ok: bool,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub response_body: String,
    pub response_truncated: bool,
    pub response_headers: Vec<(String, String)>,
    pub error: Option<String>,
    pub delivery_id: DeliveryId,
}

/// What firing an event created.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Fired {
    pub event_id: EventId,
    pub deliveries: Vec<FiredDelivery>,
}

/// One delivery created by firing an event.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FiredDelivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
}

/// The sending side of hookbin; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    store: Store,
    client: Client,
    catalog: Arc<Catalog>,
    schedule: RetrySchedule,
    /// How long a claimed delivery stays reserved: the request timeout plus [`LEASE_MARGIN`].
    lease: Duration,
    wake: Arc<Notify>,
}

/// Whether a failed attempt is retried on the schedule (outbox deliveries) or final (test
/// sends, which report at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retries {
    OnSchedule,
    Never,
}

impl Sender {
    /// A sender over `store` with the given catalog and retry schedule, sending through
    /// `client` (its timeout, target rule and trusted CAs; see [`crate::outbound`]).
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        schedule: RetrySchedule,
        client: Client,
    ) -> Sender {
        Sender {
            store,
            lease: client.timeout() + LEASE_MARGIN,
            client,
            catalog,
            schedule,
            wake: Arc::new(Notify::new()),
        }
    }

    /// How long a claimed delivery stays reserved for the one who claimed it; past it, another
    /// worker may send it again.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The event catalog webhooks choose from.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The store this sender records into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every problem with the fields `input` sets, each with the field it is about (`name`,
    /// `url`, `event`), so a form can show them all at once.
    pub fn problems(&self, input: &WebhookInput) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut note = |field, r: Result<String, SendError>| {
            if let Err(e) = r {
                out.push((field, e.to_string()));
            }
        };
        if let Some(n) = &input.name {
            note("name", self.check_name(n));
        }
        if let Some(u) = &input.url {
            note("url", check_url(u));
        }
        if let Some(e) = &input.event {
            note("event", self.check_event(e));
        }
        out
    }

    /// Checks a new webhook and stores it with a fresh secret.
    pub async fn create_webhook(&self, input: WebhookInput) -> Result<Webhook, SendError> {
        let fields = WebhookFields {
            name: self.check_name(input.name.as_deref().unwrap_or(""))?,
            url: check_url(input.url.as_deref().unwrap_or(""))?,
            event: self.check_event(input.event.as_deref().unwrap_or(""))?,
            active: input.active.unwrap_or(true),
        };
        Ok(self
            .store
            .create_webhook(fields, signing::new_secret())
            .await?)
    }

    /// Checks and applies a partial update; fields not given stay as they are.
    pub async fn update_webhook(
        &self,
        id: &WebhookId,
        input: WebhookInput,
    ) -> Result<Webhook, SendError> {
        let patch = WebhookPatch {
            name: input
                .name
                .as_deref()
                .map(|n| self.check_name(n))
                .transpose()?,
            url: input.url.as_deref().map(check_url).transpose()?,
            event: input
                .event
                .as_deref()
                .map(|e| self.check_event(e))
                .transpose()?,
            active: input.active,
        };
        let hook = self.store.update_webhook(id, patch).await?;
        self.wake.notify_one();
        Ok(hook)
    }

    /// Gives the webhook a new secret.
    pub async fn rotate_secret(&self, id: &WebhookId) -> Result<Webhook, SendError> {
        Ok(self.store.rotate_secret(id, signing::new_secret()).await?)
    }

    fn check_name(&self, name: &str) -> Result<String, SendError> {
        let name = name.trim();
        match name.chars().count() {
            0 => Err(SendError::Invalid("the name must not be empty".into())),
            1..=200 => Ok(name.to_owned()),
            _ => Err(SendError::Invalid(
                "the name must be at most 200 characters".into(),
            )),
        }
    }

    fn check_event(&self, slug: &str) -> Result<String, SendError> {
        match self.catalog.get(slug.trim()) {
            Some(e) => Ok(e.slug.clone()),
            None if slug.trim().is_empty() => Err(SendError::Invalid("choose an event".into())),
            None => Err(SendError::Invalid(format!(
                "'{slug}' is not an event in the catalog"
            ))),
        }
    }

    /// Sends the webhook's event sample right now, records it as a test delivery, and reports.
    pub async fn send_test(&self, webhook_id: &WebhookId) -> Result<TestResult, SendError> {
        let hook = self.store.get_webhook(webhook_id).await?;
        let event = self
            .catalog
            .get(&hook.event)
            .ok_or_else(|| SendError::UnknownEvent(hook.event.clone()))?;
        let payload = event.sample.bytes().clone();
        let id = self
            .store
            .create_test_delivery(&hook.id, &hook.event, payload.clone())
            .await?;
        let due = DueDelivery {
            id: id.clone(),
            webhook_id: hook.id,
            url: hook.url,
            secret: hook.secret,
            event: hook.event,
            payload,
            attempts_made: 0,
        };
        let (attempt, _) = self.deliver(&due, Retries::Never).await?;
        Ok(TestResult {
            ok: attempt.ok(),
            status: attempt.status,
            duration_ms: attempt.duration_ms,
            response_body: String::from_utf8_lossy(&attempt.response_body).into_owned(),
            response_truncated: attempt.response_truncated,
            response_headers: attempt.response_headers.clone(),
            error: attempt.error,
            delivery_id: id,
        })
    }

    /// Fires an event: one outbox delivery per active webhook on it, committed before this
    /// returns; the worker sends them. No payload, or `{}`, means the event's sample; any
    /// other is sent as given (see [`Payload`]).
    pub async fn fire(&self, slug: &str, payload: Option<Payload>) -> Result<Fired, SendError> {
        let event = self
            .catalog
            .get(slug)
            .ok_or_else(|| SendError::UnknownEvent(slug.to_owned()))?;
        let payload = match payload {
            Some(p) if !p.is_empty_object() => p,
            _ => event.sample.clone(),
        };
        let (event_id, pairs) = self
            .store
            .enqueue_event(slug, payload.bytes().clone())
            .await?;
        self.wake.notify_one();
        Ok(Fired {
            event_id,
            deliveries: pairs
                .into_iter()
                .map(|(id, webhook_id)| FiredDelivery { id, webhook_id })
                .collect(),
        })
    }

    /// Queues a fresh delivery of a past delivery's payload.
    pub async fn redeliver(&self, id: &DeliveryId) -> Result<Delivery, SendError> {
        let d = self.store.redeliver(id).await?;
        self.wake.notify_one();
        Ok(d)
    }

    /// The one delivery step every sender takes (the worker, `hookbin fire`, test sends): one
    /// signed attempt, the state it leads to, and both recorded. Returns the attempt and that
    /// state; fails only if they could not be recorded (the lease then runs out and the
    /// delivery is sent again: at least once).
    pub async fn deliver(
        &self,
        d: &DueDelivery,
        retries: Retries,
    ) -> Result<(Attempt, Next), StoreError> {
        let (attempt, next) = self.try_once(d, retries).await;
        self.store
            .record_attempt(&d.id, attempt.clone(), next)
            .await?;
        Ok((attempt, next))
    }

    /// One signed attempt at a delivery and the state it leads to, not yet recorded (the
    /// worker records its attempts in batches; see `worker`).
    pub(crate) async fn try_once(&self, d: &DueDelivery, retries: Retries) -> (Attempt, Next) {
        let attempt = self.attempt(d).await;
        self.store.metrics().attempt(
            attempt.status,
            std::time::Duration::from_millis(attempt.duration_ms),
        );
        let next = match retries {
            Retries::OnSchedule => self.next_after(d, &attempt),
            Retries::Never if attempt.ok() => Next::Succeeded,
            Retries::Never => Next::Failed,
        };
        (attempt, next)
    }

    /// Makes one signed attempt at a delivery.
    async fn attempt(&self, d: &DueDelivery) -> Attempt {
        let headers = match signing::secret_key(&d.secret) {
            Some(key) => signed_headers(&key, d.id.as_str(), &d.event, &d.payload),
            None => {
                return Attempt {
                    at: Utc::now(),
                    error: Some(
                        "the webhook's secret is not a valid whsec_ secret; rotate it".into(),
                    ),
                    ..Attempt::default()
                };
            }
        };
        self.client.post(&d.url, headers, d.payload.clone()).await
    }

    /// Where a delivery goes after `attempt`: done on a 2xx, else retried on schedule (honouring
    /// a longer Retry-After), else failed.
    fn next_after(&self, d: &DueDelivery, attempt: &Attempt) -> Next {
        if attempt.ok() {
            return Next::Succeeded;
        }
        let retry_after = attempt
            .response_headers
            .iter()
            .find(|(k, _)| k == "retry-after")
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match self
            .schedule
            .next_delay(d.attempts_made + 1, jitter(), retry_after)
        {
            Some(delay) => Next::RetryAt(Utc::now() + delay),
            None => Next::Failed,
        }
    }

    /// Wakes the worker, e.g. after something was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The headers of a delivery, signed with `key`.
pub fn signed_headers(key: &[u8], msg_id: &str, event: &str, body: &[u8]) -> Vec<(String, String)> {
    let ts = Utc::now().timestamp();
    vec![
        ("content-type".into(), "application/json".into()),
        ("user-agent".into(), USER_AGENT.into()),
        ("webhook-id".into(), msg_id.into()),
        ("webhook-timestamp".into(), ts.to_string()),
        (
            "webhook-signature".into(),
            signing::sign(key, msg_id, ts, body),
        ),
        ("webhook-event".into(), event.into()),
    ]
}

fn check_url(url: &str) -> Result<String, SendError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(SendError::Invalid("the URL must not be empty".into()));
    }
    outbound::check_url(url).map_err(SendError::Invalid)?;
    Ok(url.to_owned())
}

/// A number in [0, 1) for retry jitter.
fn jitter() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}
