//! The `X-Idempotency-Key` a client sends to make a retry safe: 1–128 printable ASCII characters.

use sha2::{Digest, Sha256};

use super::UserId;

/// The longest key a client may send.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// A key as the client sent it, checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a header value is not a key. `Display` is the message the client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdempotencyKey {
    #[error("Idempotency key too long (max 128 chars)")]
    TooLong,
    #[error("Idempotency key must be 1-128 printable ASCII characters")]
    NotPrintable,
}

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<IdempotencyKey, InvalidIdempotencyKey> {
        if raw.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(InvalidIdempotencyKey::TooLong);
        }
        // Printable ASCII: space through tilde; a header cannot carry an empty key usefully.
        if raw.is_empty() || !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(InvalidIdempotencyKey::NotPrintable);
        }
        let text = std::str::from_utf8(raw).map_err(|_| InvalidIdempotencyKey::NotPrintable)?;
        Ok(IdempotencyKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The client order id an upstream gets for this caller's key: the same key always sends the
    /// same id (so the venue can refuse a second send), and the id reveals neither the key nor
    /// the user. Fits Binance's `newClientOrderId` (`^[.A-Z:/a-z0-9_-]{1,36}$`).
    pub fn client_order_id(&self, user_id: UserId) -> String {
        let digest = Sha256::new()
            .chain_update(user_id.as_uuid().as_bytes())
            .chain_update(self.0.as_bytes())
            .finalize();
        format!("cs-{}", &hex::encode(digest)[..32])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds_and_messages() {
        assert_eq!(IdempotencyKey::parse(b"retry-1").unwrap().as_str(), "retry-1");
        assert!(IdempotencyKey::parse(&[b'k'; 128]).is_ok());
        assert_eq!(IdempotencyKey::parse(&[b'k'; 129]), Err(InvalidIdempotencyKey::TooLong));
        assert_eq!(
            InvalidIdempotencyKey::TooLong.to_string(),
            "Idempotency key too long (max 128 chars)"
        );
        assert_eq!(IdempotencyKey::parse(b""), Err(InvalidIdempotencyKey::NotPrintable));
        assert_eq!(IdempotencyKey::parse(b"a\tb"), Err(InvalidIdempotencyKey::NotPrintable));
        assert_eq!(
            IdempotencyKey::parse("clé".as_bytes()),
            Err(InvalidIdempotencyKey::NotPrintable)
        );
    }

    #[test]
    fn client_order_ids_are_per_user_and_key_and_fit_binance() {
        let key = IdempotencyKey::parse(b"order-7").unwrap();
        let (a, b) = (UserId::new(), UserId::new());
        let id = key.client_order_id(a);
        assert_eq!(id, key.client_order_id(a));
        assert_ne!(id, key.client_order_id(b));
        assert_ne!(id, IdempotencyKey::parse(b"order-8").unwrap().client_order_id(a));
        assert!(id.len() <= 36 && id.bytes().all(|c| c.is_ascii_alphanumeric() || b".:/_-".contains(&c)));
    }

    proptest! {
        #[test]
        fn every_printable_key_up_to_128_parses(key in "[ -~]{1,128}") {
            let parsed = IdempotencyKey::parse(key.as_bytes()).unwrap();
            prop_assert_eq!(parsed.as_str(), key.as_str());
        }
    }
}
