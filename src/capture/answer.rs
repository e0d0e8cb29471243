//! Which answer a capture gets when its bin has answer rules: the first rule whose conditions
//! hold (and, for a random share, that picks this request), with the answer its count says,
//! rendered once the capture has its id.

use bytes::Bytes;
use hyper::HeaderMap;

use crate::model::{BinId, BinResponse, BinSettings};
use crate::rules::template::{Escape, Template};
use crate::rules::{Answer, RequestView, Rule};
use crate::store::{Store, StoreError};

/// The rule that answers, with the answer it gives this request.
pub struct RuleChoice {
    pub rule: String,
    pub answer: Answer,
}

/// A rule's answer, ready to send.
#[derive(Debug, Clone)]
pub struct RuleAnswer {
    /// The rule's name, for the inspector.
    pub rule: String,
    pub response: BinResponse,
    /// Hold the request without answering (see [`crate::rules::MAX_HANG_MS`]).
    pub hang: bool,
}

/// The sub-path below `/b/{bin}`: `/` for the bin itself.
pub fn sub_path<'a>(path: &'a str, bin: &BinId) -> &'a str {
    let rest = path
        .strip_prefix("/b/")
        .and_then(|p| p.strip_prefix(bin.as_str()))
        .unwrap_or(path);
    if rest.is_empty() { "/" } else { rest }
}

/// The first rule of `settings` that takes `req`, counting a match of a counting rule in the
/// store (so a sequence advances once per request, on every node alike). `peek` reads the
/// counts without advancing them, for a preview.
pub async fn choose(
    store: &Store,
    bin: &BinId,
    settings: &BinSettings,
    req: &RequestView<'_>,
    peek: bool,
) -> Result<Option<RuleChoice>, StoreError> {
    let counts = match peek {
        true => store.rule_steps(bin).await?,
        false => Vec::new(),
    };
    for rule in settings.rules.iter() {
        if !rule.conditions_hold(req) {
            continue;
        }
        let n = match (rule.counts(), peek) {
            (false, _) => 0,
            (true, false) => store.rule_step(bin, &rule.name).await?,
            (true, true) => counts
                .iter()
                .find(|(name, _)| *name == rule.name)
                .map_or(0, |(_, n)| *n),
        };
        if let Some(random) = rule.random
            && !random.picks(n)
        {
            continue;
        }
        return Ok(Some(choice(rule, n)));
    }
    Ok(None)
}

fn choice(rule: &Rule, n: u64) -> RuleChoice {
    RuleChoice {
        rule: rule.name.clone(),
        answer: rule.answer(n).1.clone(),
    }
}

/// The chosen answer for the capture stored as `id`, its body template rendered over `req`.
pub fn render(choice: RuleChoice, req: &RequestView<'_>, id: &str) -> RuleAnswer {
    let a = choice.answer;
    let content_type = a
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    let body = match Template::parse(&a.body) {
        Ok(t) if t.is_plain() => Bytes::from(a.body.clone()),
        Ok(t) => Bytes::from(t.render(req, id, Escape::for_type(content_type))),
        // Checked when the rule was saved; an unreadable one answers its text as is.
        Err(_) => Bytes::from(a.body.clone()),
    };
    RuleAnswer {
        rule: choice.rule,
        response: BinResponse {
            status: a.status,
            headers: a.headers,
            body,
            delay_ms: a.delay_ms,
        },
        hang: a.hang,
    }
}

/// An empty header map, for previews of requests described without headers.
pub fn no_headers() -> HeaderMap {
    HeaderMap::new()
}
