//! Signing as the Standard Webhooks specification says (standardwebhooks.com): a secret
//! `whsec_<base64 key>`, and for each delivery the headers `webhook-id`, `webhook-timestamp`
//! (Unix seconds of the attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`. While a rotated-out secret is still valid, the header carries a
//! second signature made with it, space-separated, so a receiver with either secret verifies.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::hmac;

use crate::config::SecretString;

const PREFIX: &str = "whsec_";
/// 256 bits: HMAC-SHA256's own block of strength.
const KEY_BYTES: usize = 32;

/// A fresh secret, as shown (once) to the endpoint's owner.
pub fn new_secret() -> SecretString {
    let key: [u8; KEY_BYTES] = crate::connections::oauth::random_bytes();
    SecretString::from(format!("{PREFIX}{}", STANDARD.encode(key)))
}

/// The `webhook-signature` header's value for one message, signed with each secret in turn.
pub fn signature_header(
    secrets: &[SecretString],
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> anyhow::Result<String> {
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let encoded = secret
            .expose()
            .strip_prefix(PREFIX)
            .ok_or_else(|| anyhow::anyhow!("a stored webhook secret lacks its prefix"))?;
        let key = STANDARD.decode(encoded)?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let mut context = hmac::Context::with_key(&key);
        context.update(message_id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        signatures.push(format!("v1,{}", STANDARD.encode(context.sign().as_ref())));
    }
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_reference_libraries_do() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let body = br#"{"test": 2432232314}"#;
        let header =
            signature_header(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_new_secret_has_the_prefix_and_a_256_bit_key() {
        let secret = new_secret();
        let key = STANDARD
            .decode(secret.expose().strip_prefix(PREFIX).unwrap())
            .unwrap();
        assert_eq!(key.len(), KEY_BYTES);
    }
}
