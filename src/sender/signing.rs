//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed
//! with the base64-decoded part of a `whsec_` secret. Pure functions, used both to sign what we
//! send and (through `inspect::signatures`) to verify what a bin caught.

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

/// Base64 that takes its `=` padding or not: the reference libraries accept secrets either way
/// (a 32-byte key is 44 characters padded, 43 without).
const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The HMAC key inside a secret, or `None` if the secret is not `whsec_<base64>`.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    plain_key(secret.strip_prefix(SECRET_PREFIX)?)
}

/// The HMAC key of a secret given as bare base64 (with or without padding).
pub fn plain_key(base64: &str) -> Option<Vec<u8>> {
    LENIENT.decode(base64.trim()).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published test vector (secret, message id,
    /// timestamp and body give exactly this signature in its reference libraries).
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
    fn new_secrets_are_whsec_and_32_random_bytes() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(secret_key(&a).unwrap().len(), 32);
        assert_ne!(a, new_secret());
        assert!(secret_key("nope").is_none());
    }
}
