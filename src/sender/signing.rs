//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed
//! with the base64-decoded part of a `whsec_` secret. Pure functions, used both to sign what we
//! send and to verify what a bin caught.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix every secret carries.
pub const SECRET_PREFIX: &str = "whsec_";

/// A fresh secret: `whsec_` and base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source is available");
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// The HMAC key inside a secret, or `None` if the secret is not `whsec_<base64>`.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    BASE64.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// The `webhook-signature` header value for a message.
pub fn sign(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", BASE64.encode(mac(key, msg_id, timestamp, body)))
}

fn mac(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(msg_id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// True when any `v1,` signature in `header` (space-separated list) matches, compared in
/// constant time.
pub fn verify(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    header.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(given) = BASE64.decode(b64) else {
            return false;
        };
        let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        m.update(format!("{msg_id}.{timestamp}.").as_bytes());
        m.update(body);
        m.verify_slice(&given).is_ok()
    })
}

/// What checking a captured request's Standard Webhooks headers found.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The signature matches the secret of the named webhook; `skew_secs` is how far the
    /// signed timestamp lies from the time the request arrived.
    Valid { webhook: String, skew_secs: i64 },
    /// Headers are present but the signature matches none of the secrets tried.
    NoMatch,
    /// The headers are not in the Standard Webhooks form; the reason says how.
    Malformed(String),
}

/// Checks a request carrying `webhook-id`, `webhook-timestamp` and `webhook-signature`
/// against each `(webhook name, secret)`; `None` when it carries no such headers.
pub fn check(
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    received_at: i64,
    secrets: &[(String, String)],
) -> Option<Verdict> {
    let sig = header("webhook-signature")?;
    let (Some(id), Some(ts)) = (header("webhook-id"), header("webhook-timestamp")) else {
        return Some(Verdict::Malformed(
            "webhook-signature is present but webhook-id or webhook-timestamp is missing".into(),
        ));
    };
    let Ok(ts) = ts.trim().parse::<i64>() else {
        return Some(Verdict::Malformed(format!(
            "webhook-timestamp '{ts}' is not a number of seconds"
        )));
    };
    if !sig.split(' ').any(|s| s.starts_with("v1,")) {
        return Some(Verdict::Malformed(
            "webhook-signature has no v1, signature".into(),
        ));
    }
    let found = secrets.iter().find(|(_, secret)| {
        secret_key(secret).is_some_and(|key| verify(&key, &id, ts, body, &sig))
    });
    Some(match found {
        Some((name, _)) => Verdict::Valid {
            webhook: name.clone(),
            skew_secs: received_at - ts,
        },
        None => Verdict::NoMatch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector from PRODUCT.md, checked there against the `standardwebhooks` library.
    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
            &format!("v1,bogus= {sig}")
        ));
        assert!(!verify(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265331,
            body,
            &sig
        ));
        assert!(!verify(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b"{}",
            &sig
        ));
    }

    #[test]
    fn captured_requests_are_checked_against_every_secret() {
        let secret = new_secret();
        let key = secret_key(&secret).unwrap();
        let body = b"{\"a\":1}";
        let sig = sign(&key, "msg_1", 1000, body);
        let headers = |sig: String, ts: &'static str| {
            move |name: &str| match name {
                "webhook-id" => Some("msg_1".to_owned()),
                "webhook-timestamp" => Some(ts.to_owned()),
                "webhook-signature" => Some(sig.clone()),
                _ => None,
            }
        };
        let secrets = vec![
            ("other".to_owned(), new_secret()),
            ("mine".to_owned(), secret),
        ];
        assert_eq!(
            check(headers(sig.clone(), "1000"), body, 1003, &secrets),
            Some(Verdict::Valid {
                webhook: "mine".into(),
                skew_secs: 3
            })
        );
        assert_eq!(
            check(headers(sig.clone(), "1000"), b"{}", 1000, &secrets),
            Some(Verdict::NoMatch)
        );
        assert!(matches!(
            check(headers(sig, "soon"), body, 1000, &secrets),
            Some(Verdict::Malformed(_))
        ));
        assert_eq!(check(|_: &str| None, body, 0, &secrets), None);
    }

    #[test]
    fn new_secrets_are_whsec_and_32_random_bytes() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(secret_key(&a).unwrap().len(), 32);
        assert_ne!(a, new_secret());
        assert!(secret_key("nope").is_none());
    }
}
