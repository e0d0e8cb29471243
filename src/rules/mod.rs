//! Answer rules: what a bin answers, by what arrived. A bin's rules are tried in order and the
//! first whose conditions all hold answers; with none matching, the bin's own answer (or the
//! default `200`) does. A rule may answer a sequence (`500, 500, 200`, one per match, then the
//! last again or from the start), match only a seeded random share of requests, and hold a
//! request open without answering, so a sender's retries and timeouts can be watched.
//!
//! Everything here is bounded: [`check`] refuses a rule set beyond the limits below with a
//! message naming the field, globs and JSON paths are matched in linear time, and a template
//! can only copy parts of the request into a bounded answer.

pub mod glob;
pub mod jsonpath;
mod matching;
pub mod template;

use serde::{Deserialize, Serialize};

pub use matching::{Chosen, RequestView};

/// Most rules one bin may have.
pub const MAX_RULES: usize = 50;
/// Most answers in one rule's sequence.
pub const MAX_ANSWERS: usize = 20;
/// Largest body template, in bytes.
pub const MAX_TEMPLATE: usize = 64 * 1024;
/// Longest a "never answer" rule holds a request before hookbin gives up on it with a 504.
pub const MAX_HANG_MS: u64 = 300_000;
/// Longest delay an answer may wait for, a rule's or a bin's own.
pub const MAX_DELAY_MS: u64 = 30_000;

/// One rule: when it applies and what it answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Shown in the inspector beside each request it answered; unique within the bin.
    pub name: String,
    /// Conditions that must all hold; none at all matches every request.
    #[serde(default)]
    pub when: When,
    /// What it answers: one answer, or a sequence given one per match.
    pub answers: Vec<Answer>,
    /// After the last answer of a sequence: repeat it, or start again from the first.
    #[serde(default)]
    pub then: Then,
    /// Match only this share of the requests that meet the conditions, decided by a seeded
    /// generator, so a flaky receiver can be replayed exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<Random>,
}

/// A rule's conditions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// The method, compared without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A glob over the sub-path below the bin (`/orders/*`, `/**/paid`): `*` is any run
    /// within one segment, `**` any run at all, `?` one character of a segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyMatch>,
    /// The glob and JSON path parsed once, on first use, rather than for every request.
    #[serde(skip)]
    pub compiled: matching::Compiled,
}

/// A query parameter that is present, or has this value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryMatch {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
}

/// A header (name without regard to case) that is present, equals a value or contains one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

/// The body contains some text, or the value at a JSON path equals a JSON value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Like `$.event` or `$.data.items[0].id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// The value `json_path` must hold (any JSON value; `"payment_received"`, `3`, `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
}

/// One answer of a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    #[serde(default = "ok")]
    pub status: u16,
    /// Sent in this order, after hookbin's own `content-length`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// A template: `{{header.x-id}}`, `{{query.page}}`, `{{json.$.event}}`, `{{request.id}}`,
    /// `{{request.method}}`, `{{request.path}}`, `{{now}}`; see [`template`].
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub delay_ms: u64,
    /// Never answer: hold the request open (up to [`MAX_HANG_MS`]) to test a sender's timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hang: bool,
}

fn ok() -> u16 {
    200
}

/// What a sequence does after its last answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Then {
    #[default]
    RepeatLast,
    Cycle,
}

/// A seeded share of matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Random {
    /// 1 to 99.
    pub percent: u8,
    #[serde(default)]
    pub seed: u64,
}

impl Random {
    /// Whether the `n`th request that met the conditions is in the share: a splitmix64 step of
    /// seed and n, so the same seed picks the same requests every time.
    pub fn picks(self, n: u64) -> bool {
        let mut z = self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        z % 100 < u64::from(self.percent)
    }
}

impl Rule {
    /// Whether choosing this rule needs its counter (a sequence, or a random share).
    pub fn counts(&self) -> bool {
        self.answers.len() > 1 || self.random.is_some()
    }

    /// The answer for the `n`th match (counting from 0).
    pub fn answer(&self, n: u64) -> (usize, &Answer) {
        let len = self.answers.len() as u64;
        let i = match self.then {
            Then::RepeatLast => n.min(len - 1),
            Then::Cycle => n % len,
        } as usize;
        (i, &self.answers[i])
    }
}

/// A rule set refused: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    /// Like `rules[2].answers[0].status`.
    pub field: String,
    pub message: String,
}

fn refuse<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, RuleError> {
    Err(RuleError {
        field: field.into(),
        message: message.into(),
    })
}

/// Headers an answer may not set: hookbin frames the answer itself.
const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];

/// Checks a whole rule set; the first problem is refused, naming its field.
pub fn check(rules: &[Rule]) -> Result<(), RuleError> {
    if rules.len() > MAX_RULES {
        return refuse(
            "rules",
            format!("at most {MAX_RULES} rules per bin, not {}", rules.len()),
        );
    }
    let mut names = std::collections::HashSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        let name = rule.name.as_str();
        if name.trim() != name {
            return refuse(format!("{at}.name"), "a name without spaces at either end");
        }
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return refuse(
                format!("{at}.name"),
                "a name of 1 to 64 characters, no control characters",
            );
        }
        if !names.insert(name.to_owned()) {
            return refuse(
                format!("{at}.name"),
                format!("another rule is already called {name:?}"),
            );
        }
        check_when(&rule.when, &format!("{at}.when"))?;
        if rule.answers.is_empty() || rule.answers.len() > MAX_ANSWERS {
            return refuse(
                format!("{at}.answers"),
                format!("1 to {MAX_ANSWERS} answers"),
            );
        }
        for (j, a) in rule.answers.iter().enumerate() {
            check_answer(a, &format!("{at}.answers[{j}]"))?;
        }
        if let Some(r) = rule.random {
            if !(1..=99).contains(&r.percent) {
                return refuse(
                    format!("{at}.random.percent"),
                    "a share from 1 to 99 percent",
                );
            }
            if rule.answers.len() > 1 {
                return refuse(
                    format!("{at}.random"),
                    "a random rule has one answer, not a sequence",
                );
            }
        }
    }
    Ok(())
}

fn check_when(w: &When, at: &str) -> Result<(), RuleError> {
    if let Some(m) = &w.method
        && (m.is_empty() || m.len() > 32 || !m.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return refuse(
            format!("{at}.method"),
            "a method is letters only, like POST",
        );
    }
    if let Some(p) = &w.path {
        glob::Glob::parse(p).map_err(|m| RuleError {
            field: format!("{at}.path"),
            message: m,
        })?;
    }
    if let Some(q) = &w.query
        && (q.name.is_empty() || q.name.len() > 256)
    {
        return refuse(
            format!("{at}.query.name"),
            "a parameter name of 1 to 256 characters",
        );
    }
    if let Some(h) = &w.header {
        if hyper::header::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
            return refuse(
                format!("{at}.header.name"),
                format!("{:?} is not a header name", h.name),
            );
        }
        if h.equals.is_some() && h.contains.is_some() {
            return refuse(format!("{at}.header"), "equals or contains, not both");
        }
        for v in [&h.equals, &h.contains].into_iter().flatten() {
            if v.len() > 8192 {
                return refuse(format!("{at}.header"), "a value of at most 8192 bytes");
            }
        }
    }
    if let Some(b) = &w.body {
        let ways = [b.contains.is_some(), b.json_path.is_some()];
        if ways == [true, true] || ways == [false, false] {
            return refuse(
                format!("{at}.body"),
                "either contains, or json_path with equals",
            );
        }
        if let Some(c) = &b.contains
            && (c.is_empty() || c.len() > 8192)
        {
            return refuse(format!("{at}.body.contains"), "text of 1 to 8192 bytes");
        }
        if let Some(p) = &b.json_path {
            jsonpath::Path::parse(p).map_err(|m| RuleError {
                field: format!("{at}.body.json_path"),
                message: m,
            })?;
            if b.equals.is_none() {
                return refuse(format!("{at}.body.equals"), "the value json_path must hold");
            }
        } else if b.equals.is_some() {
            return refuse(format!("{at}.body.equals"), "equals needs a json_path");
        }
    }
    Ok(())
}

fn check_answer(a: &Answer, at: &str) -> Result<(), RuleError> {
    if !(200..=599).contains(&a.status) {
        return refuse(
            format!("{at}.status"),
            format!("from 200 to 599, not {}", a.status),
        );
    }
    if matches!(a.status, 204 | 304) && !a.body.is_empty() {
        return refuse(
            format!("{at}.body"),
            format!("a {} answer cannot have a body", a.status),
        );
    }
    if a.delay_ms > MAX_DELAY_MS {
        return refuse(
            format!("{at}.delay_ms"),
            format!("at most {MAX_DELAY_MS} ms, not {}", a.delay_ms),
        );
    }
    if a.headers.len() > 50 {
        return refuse(format!("{at}.headers"), "at most 50 headers");
    }
    for (name, value) in &a.headers {
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return refuse(
                format!("{at}.headers"),
                format!("{name:?} is not a header name"),
            );
        }
        if FRAMING.contains(&name.to_ascii_lowercase().as_str()) {
            return refuse(
                format!("{at}.headers"),
                format!("{name} is set by hookbin itself"),
            );
        }
        if hyper::header::HeaderValue::from_str(value).is_err() || value.len() > 8192 {
            return refuse(
                format!("{at}.headers"),
                format!("the value of {name} cannot be sent"),
            );
        }
    }
    if a.body.len() > MAX_TEMPLATE {
        return refuse(
            format!("{at}.body"),
            format!(
                "a template of at most {MAX_TEMPLATE} bytes, not {}",
                a.body.len()
            ),
        );
    }
    template::Template::parse(&a.body).map_err(|m| RuleError {
        field: format!("{at}.body"),
        message: m,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests;
