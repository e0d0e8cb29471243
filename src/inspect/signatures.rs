//! Checks the signatures a captured request carries, for the three schemes webhook senders
//! use most: Standard Webhooks (`webhook-signature`), GitHub (`X-Hub-Signature-256`) and
//! Stripe (`Stripe-Signature`). Each scheme present is checked against every secret given;
//! all comparisons of MACs are constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::sender::signing;

/// How far a signed timestamp may lie from arrival before the receiver libraries of Standard
/// Webhooks and Stripe reject it (their default tolerance). Standard Webhooks bounds both
/// directions ("too old", "too new"); Stripe bounds only the age, as stripe-node and
/// stripe-python do, so a timestamp ahead of the clock passes there.
pub const TOLERANCE_SECS: i64 = 300;

/// The header each scheme signs in: Standard Webhooks, GitHub, Stripe.
const STANDARD_HEADER: &str = "webhook-signature";
const GITHUB_HEADER: &str = "x-hub-signature-256";
const STRIPE_HEADER: &str = "stripe-signature";

/// Every header a signature checked here can arrive in; a request with none of them has
/// nothing to verify.
pub const SIGNATURE_HEADERS: [&str; 3] = [STANDARD_HEADER, GITHUB_HEADER, STRIPE_HEADER];

/// The verdict on one scheme's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// "Standard Webhooks", "GitHub" or "Stripe".
    pub scheme: &'static str,
    /// The header the signature came in.
    pub header: &'static str,
    pub outcome: Outcome,
}

/// What checking one scheme found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Signed with the secret labelled `secret`; `skew_secs` is how far the signed timestamp
    /// lies from arrival, for the schemes that sign one.
    Valid {
        secret: String,
        skew_secs: Option<i64>,
    },
    /// Well-formed, but no secret given makes this signature.
    NoMatch { secrets_tried: usize },
    /// Not in the scheme's form; says how.
    Malformed(String),
}

/// Where a signed timestamp lies against the scheme's tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timing {
    InTime,
    TooOld,
    TooNew,
}

impl Check {
    /// The timestamp's standing under this scheme's rule (see [`TOLERANCE_SECS`]).
    fn timing(&self) -> Timing {
        let Outcome::Valid {
            skew_secs: Some(skew),
            ..
        } = self.outcome
        else {
            return Timing::InTime;
        };
        // `skew` is arrival minus the signed time: positive when signed in the past.
        if skew > TOLERANCE_SECS {
            Timing::TooOld
        } else if skew < -TOLERANCE_SECS && self.header != STRIPE_HEADER {
            Timing::TooNew
        } else {
            Timing::InTime
        }
    }

    /// True for a valid signature whose timestamp (if any) the scheme's own libraries accept.
    pub fn passes(&self) -> bool {
        matches!(self.outcome, Outcome::Valid { .. }) && self.timing() == Timing::InTime
    }

    /// One line for a person: the scheme and whether it holds.
    pub fn headline(&self) -> String {
        let verdict = match (&self.outcome, self.timing()) {
            (Outcome::Valid { .. }, Timing::InTime) => "signature valid",
            (Outcome::Valid { .. }, Timing::TooOld) => "signature valid, timestamp too old",
            (Outcome::Valid { .. }, Timing::TooNew) => "signature valid, timestamp too new",
            (Outcome::NoMatch { .. }, _) => "signature not valid",
            (Outcome::Malformed(_), _) => "signature header malformed",
        };
        format!("{}: {verdict}", self.scheme)
    }

    /// Why, in a sentence or two.
    pub fn detail(&self) -> String {
        match &self.outcome {
            Outcome::Valid { secret, skew_secs } => {
                let when = match (skew_secs, self.timing()) {
                    (None, _) => String::new(),
                    (Some(s), Timing::InTime) if *s < -TOLERANCE_SECS => format!(
                        " The signed timestamp is {} s ahead of arrival; Stripe's libraries only bound its age, so they accept it.",
                        -s
                    ),
                    (Some(_), Timing::InTime) => {
                        " The signed timestamp is within 5 minutes of arrival.".to_owned()
                    }
                    (Some(s), Timing::TooOld) => format!(
                        " But it was signed {s} s before arrival: a receiver would reject it as too old (a replay)."
                    ),
                    (Some(s), Timing::TooNew) => format!(
                        " But its timestamp is {} s ahead of arrival: a receiver would reject it as too new.",
                        -s
                    ),
                };
                format!("Signed with {secret}.{when}")
            }
            Outcome::NoMatch { secrets_tried: 0 } => {
                "No secret to check it with: set this bin's signing secret.".to_owned()
            }
            Outcome::NoMatch { secrets_tried } => format!(
                "It matches none of the {secrets_tried} secret(s) tried: the body or headers changed, or it was signed with another secret."
            ),
            Outcome::Malformed(why) => why.clone(),
        }
    }
}

/// Checks every scheme whose header `header` finds, against each `(label, secret)`.
/// `received_at` is the arrival time in Unix seconds.
pub fn check_all(
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    received_at: i64,
    secrets: &[(String, String)],
) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(sig) = header(STANDARD_HEADER) {
        let outcome = standard(&header, &sig, body, received_at, secrets);
        checks.push(Check {
            scheme: "Standard Webhooks",
            header: STANDARD_HEADER,
            outcome,
        });
    }
    if let Some(sig) = header(GITHUB_HEADER) {
        checks.push(Check {
            scheme: "GitHub",
            header: GITHUB_HEADER,
            outcome: github(&sig, body, secrets),
        });
    }
    if let Some(sig) = header(STRIPE_HEADER) {
        checks.push(Check {
            scheme: "Stripe",
            header: STRIPE_HEADER,
            outcome: stripe(&sig, body, received_at, secrets),
        });
    }
    checks
}

fn standard(
    header: &impl Fn(&str) -> Option<String>,
    sig: &str,
    body: &[u8],
    received_at: i64,
    secrets: &[(String, String)],
) -> Outcome {
    let (Some(id), Some(ts)) = (header("webhook-id"), header("webhook-timestamp")) else {
        return Outcome::Malformed(
            "webhook-signature is present but webhook-id or webhook-timestamp is missing".into(),
        );
    };
    let Ok(ts) = ts.trim().parse::<i64>() else {
        return Outcome::Malformed(format!(
            "webhook-timestamp '{ts}' is not a number of seconds"
        ));
    };
    if !sig.split(' ').any(|s| s.starts_with("v1,")) {
        return Outcome::Malformed("webhook-signature has no v1, signature".into());
    }
    let key = |secret: &str| signing::secret_key(secret).or_else(|| signing::plain_key(secret));
    first_match(secrets, Some(received_at - ts), |secret| {
        key(secret).is_some_and(|k| signing::verify(&k, &id, ts, body, sig))
    })
}

fn github(sig: &str, body: &[u8], secrets: &[(String, String)]) -> Outcome {
    let Some(given) = sig.trim().strip_prefix("sha256=").and_then(unhex) else {
        return Outcome::Malformed(
            "X-Hub-Signature-256 must be sha256= followed by 64 hex digits".into(),
        );
    };
    first_match(secrets, None, |secret| {
        hmac(secret.as_bytes(), &[body])
            .verify_slice(&given)
            .is_ok()
    })
}

fn stripe(sig: &str, body: &[u8], received_at: i64, secrets: &[(String, String)]) -> Outcome {
    let mut ts = None;
    let mut v1 = Vec::new();
    for part in sig.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => ts = t.parse::<i64>().ok(),
            Some(("v1", s)) => v1.extend(unhex(s)),
            _ => {}
        }
    }
    let Some(ts) = ts else {
        return Outcome::Malformed("Stripe-Signature has no t=<timestamp>".into());
    };
    if v1.is_empty() {
        return Outcome::Malformed("Stripe-Signature has no v1=<hex signature>".into());
    }
    let signed_prefix = format!("{ts}.");
    first_match(secrets, Some(received_at - ts), |secret| {
        v1.iter().any(|given| {
            hmac(secret.as_bytes(), &[signed_prefix.as_bytes(), body])
                .verify_slice(given)
                .is_ok()
        })
    })
}

fn first_match(
    secrets: &[(String, String)],
    skew_secs: Option<i64>,
    matches: impl Fn(&str) -> bool,
) -> Outcome {
    match secrets.iter().find(|(_, s)| matches(s)) {
        Some((label, _)) => Outcome::Valid {
            secret: label.clone(),
            skew_secs,
        },
        None => Outcome::NoMatch {
            secrets_tried: secrets.len(),
        },
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        m.update(p);
    }
    m
}

/// Lowercase or uppercase hex to bytes; `None` for anything else or an odd length.
fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `X-Hub-Signature-256` value GitHub would send for `body` under `secret`.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex(&hmac(secret.as_bytes(), &[body]).finalize().into_bytes())
    )
}

/// The `Stripe-Signature` value Stripe would send for `body` under `secret` at time `ts`.
pub fn stripe_signature(secret: &str, ts: i64, body: &[u8]) -> String {
    let mac = hmac(secret.as_bytes(), &[format!("{ts}.").as_bytes(), body]);
    format!("t={ts},v1={}", hex(&mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;

    fn headers(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
    }

    fn secrets(s: &str) -> Vec<(String, String)> {
        vec![("other".into(), "not-it".into()), ("mine".into(), s.into())]
    }

    /// GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
    #[test]
    fn github_matches_its_documented_example_and_rejects_tampering() {
        let secret = "It's a Secret to Everybody";
        let sig = github_signature(secret, b"Hello, World!");
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let ok = check_all(
            headers(vec![("X-Hub-Signature-256", sig.clone())]),
            b"Hello, World!",
            0,
            &secrets(secret),
        );
        assert!(ok[0].passes(), "{ok:?}");
        let bad = check_all(
            headers(vec![("X-Hub-Signature-256", sig)]),
            b"Hello, World?",
            0,
            &secrets(secret),
        );
        assert_eq!(bad[0].outcome, Outcome::NoMatch { secrets_tried: 2 });
        let malformed = check_all(
            headers(vec![("x-hub-signature-256", "md5=zz".into())]),
            b"",
            0,
            &secrets(secret),
        );
        assert!(matches!(malformed[0].outcome, Outcome::Malformed(_)));
    }

    #[test]
    fn stripe_checks_the_signed_timestamp_and_body() {
        let secret = "whsec_test_secret";
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let sig = stripe_signature(secret, 1_700_000_000, body);
        let h = |v: String| headers(vec![("stripe-signature", v)]);
        let ok = check_all(h(sig.clone()), body, 1_700_000_010, &secrets(secret));
        assert_eq!(
            ok[0].outcome,
            Outcome::Valid {
                secret: "mine".into(),
                skew_secs: Some(10)
            }
        );
        assert!(ok[0].passes());
        let late = check_all(h(sig.clone()), body, 1_700_000_400, &secrets(secret));
        assert!(!late[0].passes(), "outside the 5 minute tolerance");
        assert!(late[0].headline().ends_with("timestamp too old"));
        // Stripe's libraries bound only the age: signed 600 s ahead of arrival still passes.
        let ahead = check_all(h(sig.clone()), body, 1_699_999_400, &secrets(secret));
        assert!(ahead[0].passes(), "{:?}", ahead[0]);
        assert_eq!(ahead[0].headline(), "Stripe: signature valid");
        let tampered = check_all(h(sig.clone()), b"{}", 1_700_000_010, &secrets(secret));
        assert!(matches!(tampered[0].outcome, Outcome::NoMatch { .. }));
        let other_ts = sig.replace("t=1700000000", "t=1700000001");
        let moved = check_all(h(other_ts), body, 1_700_000_010, &secrets(secret));
        assert!(matches!(moved[0].outcome, Outcome::NoMatch { .. }));
        let two = format!("{sig},v1={}", "ab".repeat(32)).replace("v1=", "v0=x,v1=");
        assert!(check_all(h(two), body, 1_700_000_010, &secrets(secret))[0].passes());
        let no_t = check_all(h("v1=00".into()), body, 0, &secrets(secret));
        assert!(matches!(no_t[0].outcome, Outcome::Malformed(_)));
    }

    #[test]
    fn standard_webhooks_takes_whsec_or_plain_base64_secrets() {
        let secret = signing::new_secret();
        let key = signing::secret_key(&secret).unwrap();
        let body = b"{\"a\":1}";
        let sig = signing::sign(&key, "msg_1", 1000, body);
        let h = |sig: String| {
            headers(vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", "1000".into()),
                ("webhook-signature", sig),
            ])
        };
        let plain = secret.strip_prefix("whsec_").unwrap().to_owned();
        for s in [secret.clone(), plain] {
            let c = check_all(h(sig.clone()), body, 1001, &secrets(&s));
            assert_eq!(c[0].scheme, "Standard Webhooks");
            assert!(c[0].passes(), "{c:?}");
        }
        let c = check_all(h(sig.clone()), b"{}", 1001, &secrets(&secret));
        assert!(matches!(c[0].outcome, Outcome::NoMatch { .. }));
        // Both directions are bounded here, each named as the reference libraries name it.
        let old = check_all(h(sig.clone()), body, 1000 + 301, &secrets(&secret));
        assert_eq!(
            old[0].headline(),
            "Standard Webhooks: signature valid, timestamp too old"
        );
        let new = check_all(h(sig), body, 1000 - 301, &secrets(&secret));
        assert_eq!(
            new[0].headline(),
            "Standard Webhooks: signature valid, timestamp too new"
        );
        assert!(new[0].detail().contains("too new"));
    }

    /// The test vector the Standard Webhooks specification publishes, with its secret given
    /// padded and unpadded as both reference libraries accept it.
    #[test]
    fn standard_webhooks_matches_the_spec_vector_with_or_without_padding() {
        let body = br#"{"test": 2432232314}"#;
        let h = headers(vec![
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
            ("webhook-timestamp", "1614265330".into()),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
            ),
        ]);
        let c = check_all(
            &h,
            body,
            1614265330,
            &secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        );
        assert!(c[0].passes(), "{c:?}");
        // A 32-byte key: 44 base64 characters with its '=', 43 without.
        let key = [7u8; 32];
        let padded = format!("whsec_{}", BASE64.encode(key));
        let unpadded = padded.trim_end_matches('=').to_owned();
        assert_eq!(unpadded.len(), "whsec_".len() + 43);
        let sig = signing::sign(&key, "msg_1", 1000, body);
        let h = headers(vec![
            ("webhook-id", "msg_1".into()),
            ("webhook-timestamp", "1000".into()),
            ("webhook-signature", sig),
        ]);
        for s in [padded, unpadded] {
            assert!(check_all(&h, body, 1000, &secrets(&s))[0].passes(), "{s}");
        }
    }

    #[test]
    fn requests_without_signature_headers_get_no_checks() {
        assert!(check_all(|_: &str| None, b"x", 0, &secrets("s")).is_empty());
    }
}
