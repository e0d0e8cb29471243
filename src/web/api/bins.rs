//! The API for bins and captured requests.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use bytes::Bytes;

use crate::model::{Bin, BinId, BinSettings, Capture, RequestId};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, bin_query, bin_settings, filter, paging};

/// A bin as the API shows it.
#[derive(Serialize)]
pub struct BinOut {
    pub id: String,
    pub name: Option<String>,
    pub url: String,
    pub inspect_url: String,
    pub created_at: String,
    pub request_count: u64,
    pub last_request_at: Option<String>,
    /// The custom answer, or `None` for the default `200 {"ok": true, ...}`.
    pub response: Option<ResponseOut>,
    pub forward_url: Option<String>,
    pub signing_secret: Option<String>,
}

/// A bin's custom answer as the API shows it.
#[derive(Serialize)]
pub struct ResponseOut {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body_base64: String,
    pub body_text: Option<String>,
    pub delay_ms: u64,
}

impl BinOut {
    pub fn new(bin: &Bin, base: &str, settings: &BinSettings) -> BinOut {
        BinOut {
            id: bin.id.to_string(),
            name: bin.name.clone(),
            url: format!("{base}/b/{}", bin.id),
            inspect_url: format!("{base}/bins/{}", bin.id),
            created_at: time::format(bin.created_at),
            request_count: bin.request_count,
            last_request_at: bin.last_request_at.map(time::format),
            response: settings.response.as_ref().map(|r| ResponseOut {
                status: r.status,
                headers: r.headers.clone(),
                body_base64: BASE64.encode(&r.body),
                body_text: std::str::from_utf8(&r.body).ok().map(str::to_owned),
                delay_ms: r.delay_ms,
            }),
            forward_url: settings.forward_url.clone(),
            signing_secret: settings.signing_secret.clone(),
        }
    }
}

/// A captured request as the API shows it: exact bytes in base64, text too when it is text.
#[derive(Serialize)]
pub struct RequestOut {
    pub id: String,
    pub bin_id: String,
    pub received_at: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub http_version: String,
    pub remote_addr: String,
    /// `[name, value]` pairs; a value that is not UTF-8 appears here with replacement characters
    /// and exactly in `headers_base64`.
    pub headers: Vec<(String, String)>,
    /// The same pairs with each value's exact bytes in base64.
    pub headers_base64: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body_size: u64,
    pub body_base64: String,
    pub body_text: Option<String>,
    pub inspect_url: String,
    /// The status hookbin answered with.
    pub response_status: u16,
    /// The answer rule that chose `response_status`, or null.
    pub response_rule: Option<String>,
}

impl RequestOut {
    /// The API form of a capture, with URLs built on `base`.
    pub fn new(c: &Capture, base: &str) -> RequestOut {
        RequestOut {
            id: c.id.to_string(),
            bin_id: c.bin_id.to_string(),
            received_at: time::format(c.received_at),
            method: c.method.clone(),
            path: c.path.clone(),
            query: c.query.clone(),
            http_version: c.http_version.clone(),
            remote_addr: c.remote_addr.clone(),
            headers: c.text_headers(),
            headers_base64: c
                .headers
                .iter()
                .map(|h| (h.name.clone(), BASE64.encode(&h.value)))
                .collect(),
            content_type: c.content_type().map(str::to_owned),
            body_size: c.body_size,
            body_base64: BASE64.encode(&c.body),
            body_text: std::str::from_utf8(&c.body).ok().map(str::to_owned),
            inspect_url: format!("{base}/requests/{}", c.id),
            response_status: c.response_status,
            response_rule: c.response_rule.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewBin {
    name: Option<String>,
}

pub async fn create_bin(app: &App, req: Request<Incoming>) -> Result<Response<Body>, WebError> {
    let base = app.base_url(&req);
    let who = crate::web::client_ip(&req);
    let input: NewBin = super::optional_json_body(req, r#"{"name": "ci-orders"}"#).await?;
    let name = input
        .name
        .map(|n| BinId::parse_exact_name(&n))
        .transpose()
        .map_err(WebError::BadRequest)?;
    let bin = app.create_bin(who, name).await?;
    Ok(response::json(
        StatusCode::CREATED,
        &BinOut::new(&bin, &base, &BinSettings::default()),
    ))
}

/// `GET /api/bins`: a page of bins, most recently active first (see [`bin_query`]).
pub async fn list_bins(app: &App, req: &Request<Incoming>) -> Result<Response<Body>, WebError> {
    let base = app.base_url(req);
    let page = app.store.list_bins_page(bin_query(req, 100, 1000)?).await?;
    let mut bins = Vec::with_capacity(page.bins.len());
    for b in &page.bins {
        bins.push(BinOut::new(
            b,
            &base,
            &*app.store.bin_settings(&b.id).await?,
        ));
    }
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({ "bins": bins, "next": page.next, "matched": page.matched }),
    ))
}

pub async fn get_bin(
    app: &App,
    req: &Request<Incoming>,
    id: BinId,
) -> Result<Response<Body>, WebError> {
    let bin = app.store.get_bin(&id).await?;
    let settings = app.store.bin_settings(&id).await?;
    Ok(response::json(
        StatusCode::OK,
        &BinOut::new(&bin, &app.base_url(req), &settings),
    ))
}

/// Deserializes a field that may be absent (outer `None`), `null` (inner `None`) or a value.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BinPatch {
    #[serde(default, deserialize_with = "present")]
    response: Option<Option<ResponseIn>>,
    #[serde(default, deserialize_with = "present")]
    forward_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    signing_secret: Option<Option<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseIn {
    #[serde(default = "ok_status")]
    status: u16,
    #[serde(default)]
    headers: HeadersIn,
    body: Option<String>,
    body_base64: Option<String>,
    #[serde(default)]
    delay_ms: u64,
}

fn ok_status() -> u16 {
    200
}

/// Headers as an object (`{"Name": "value"}`) or, to repeat a name, as `[name, value]` pairs.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum HeadersIn {
    #[default]
    None,
    Map(serde_json::Map<String, serde_json::Value>),
    Pairs(Vec<(String, String)>),
}

impl HeadersIn {
    fn pairs(self) -> Result<Vec<(String, String)>, WebError> {
        match self {
            HeadersIn::None => Ok(Vec::new()),
            HeadersIn::Pairs(p) => Ok(p),
            HeadersIn::Map(m) => m
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => Ok((k, s)),
                    other => Err(WebError::BadRequest(format!(
                        "header {k} must have a string value, not {other}"
                    ))),
                })
                .collect(),
        }
    }
}

/// `PATCH /api/bins/{id}`: changes the fields given (`null` resets one to the default).
pub async fn patch_bin(
    app: &App,
    req: Request<Incoming>,
    id: BinId,
) -> Result<Response<Body>, WebError> {
    let base = app.base_url(&req);
    let patch: BinPatch = super::json_body(
        req,
        r#"{"response": {"status": 201, "headers": {"X-A": "1"}, "body": "ok", "delay_ms": 0}, "forward_url": "http://127.0.0.1:3000/hooks", "signing_secret": "..."}"#,
    )
    .await?;
    let bin = app.store.get_bin(&id).await?;
    let mut settings = (*app.store.bin_settings(&id).await?).clone();
    if let Some(r) = patch.response {
        settings.response = r
            .map(|r| {
                let body = match (r.body, r.body_base64) {
                    (Some(_), Some(_)) => {
                        return Err(WebError::BadRequest(
                            "give body or body_base64, not both".into(),
                        ));
                    }
                    (Some(text), None) => Bytes::from(text),
                    (None, Some(b64)) => BASE64
                        .decode(&b64)
                        .map_err(|e| {
                            WebError::BadRequest(format!("body_base64 is not valid base64: {e}"))
                        })?
                        .into(),
                    (None, None) => Bytes::new(),
                };
                bin_settings::response(r.status, r.headers.pairs()?, body, r.delay_ms)
            })
            .transpose()?;
    }
    if let Some(url) = patch.forward_url {
        settings.forward_url = url
            .map(|u| bin_settings::forward_url(&u, &id, app.local_addr.port()))
            .transpose()?;
    }
    if let Some(secret) = patch.signing_secret {
        settings.signing_secret = secret
            .map(|s| bin_settings::signing_secret(&s))
            .transpose()?;
    }
    app.store.set_bin_settings(&id, settings.clone()).await?;
    Ok(response::json(
        StatusCode::OK,
        &BinOut::new(&bin, &base, &settings),
    ))
}

pub async fn delete_bin(app: &App, id: BinId) -> Result<Response<Body>, WebError> {
    app.store.delete_bin(&id).await?;
    Ok(response::no_content())
}

pub async fn clear_bin(app: &App, id: BinId) -> Result<Response<Body>, WebError> {
    let removed = app.store.clear_bin(&id).await?;
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({ "removed": removed }),
    ))
}

pub async fn list_requests(
    app: &App,
    req: &Request<Incoming>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let (limit, before) = paging(req, 50, 1000)?;
    let page = app
        .store
        .list_requests(&bin, limit, before, None, &filter(req)?)
        .await?;
    let base = app.base_url(req);
    let requests: Vec<RequestOut> = page
        .requests
        .iter()
        .map(|c| RequestOut::new(c, &base))
        .collect();
    let next = page.next.map(|id| id.to_string());
    let lag = app.store.search_lag().await?;
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({
            "requests": requests,
            "next": next,
            "index": { "pending": lag.pending, "behind_ms": lag.behind_ms },
        }),
    ))
}

pub async fn get_request(
    app: &App,
    req: &Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let capture = app.store.get_request(id, None).await?;
    Ok(response::json(
        StatusCode::OK,
        &RequestOut::new(&capture, &app.base_url(req)),
    ))
}

pub async fn delete_request(app: &App, id: RequestId) -> Result<Response<Body>, WebError> {
    app.store.delete_request(id).await?;
    Ok(response::no_content())
}

/// The exact body bytes with the original Content-Type, always as a download (and sandboxed,
/// with nosniff), so captured HTML never renders on hookbin's own origin.
pub async fn raw(app: &App, id: RequestId) -> Result<Response<Body>, WebError> {
    let capture = app.store.get_request(id, None).await?;
    let content_type = capture
        .content_type()
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut r = response::with_type(StatusCode::OK, &content_type, response::full(capture.body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(response::RAW_CSP),
    );
    let disposition = format!("attachment; filename=\"{}.bin\"", capture.id);
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
