//! Secret encryption (exchange credentials, TOTP secrets): a key ring over AES-256-GCM.
//!
//! * Keys come from `ENCRYPTION_KEYS` (newest first) or `ENCRYPTION_KEY`. Key text is accepted as
//!   existing deployments have it: 32 bytes written as standard or URL-safe base64 (with or
//!   without padding), or as 64 hex characters. Any other text of at least 16 characters is
//!   stretched with SHA-256 (a warning is logged, without the key); shorter text is refused.
//! * A sealed value is `v1:<key_id>:<base64(nonce || ciphertext+tag)>` with a fresh random
//!   96-bit nonce per value. The associated data binds the user id, the exchange and the field
//!   (`api_key` or `api_secret`), so a ciphertext copied to another row does not open. A TOTP
//!   secret's binds the user id and the purpose `totp_secret` instead of an exchange and field,
//!   so neither kind opens as the other.
//! * Writes use the newest key; reads use the key the value is tagged with.
//! * Every failure is a typed [`CryptoError`] that never contains plaintext or key material.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::domain::{Exchange, UserId};

/// Text that must never be printed: exchange API keys and secrets, key material.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(text: impl Into<String>) -> Self {
        SecretText(text.into())
    }

    /// The plaintext; call only where it is really used (signing, masking, sealing).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl From<String> for SecretText {
    fn from(s: String) -> Self {
        SecretText(s)
    }
}

/// A decrypted credential pair.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub api_key: SecretText,
    pub api_secret: SecretText,
}

/// Which column a ciphertext belongs to (bound into the associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ApiKey,
    ApiSecret,
}

impl Field {
    pub fn as_str(&self) -> &'static str {
        match self {
            Field::ApiKey => "api_key",
            Field::ApiSecret => "api_secret",
        }
    }
}

/// How a key text became 32 key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    Base64,
    Hex,
    /// Free text of at least 16 characters, hashed with SHA-256 (weaker: logged as a warning).
    Sha256Stretched,
}

/// Why a key text is refused, or why a value does not open. Never carries plaintext or keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{setting}: key `{key_id}` is too short (give 32 bytes as base64, 64 hex characters, or at least 16 characters of text)")]
    KeyTooShort { setting: String, key_id: String },
    #[error("{setting}: no encryption key configured")]
    NoKeys { setting: String },
    #[error("ciphertext is not in the v1:<key_id>:<base64> format")]
    BadFormat,
    #[error("ciphertext is sealed with key `{0}`, which is not in the key ring")]
    UnknownKey(String),
    #[error("ciphertext does not open: tampered, wrong key or wrong associated data")]
    Open,
    #[error("encryption failed")]
    Seal,
}

/// 32 bytes of AES key, parsed from the text the operator configured.
#[derive(Clone)]
pub struct KeyMaterial {
    bytes: [u8; 32],
    pub encoding: KeyEncoding,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyMaterial({:?}, <redacted>)", self.encoding)
    }
}

impl KeyMaterial {
    /// Parses key text (see the module documentation). `setting` and `key_id` name it in errors.
    pub fn parse(text: &str, setting: &str, key_id: &str) -> Result<KeyMaterial, CryptoError> {
        let text = text.trim();
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(bytes) = hex::decode(text) {
                if let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice()) {
                    return Ok(KeyMaterial {
                        bytes,
                        encoding: KeyEncoding::Hex,
                    });
                }
            }
        }
        for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            if let Ok(decoded) = engine.decode(text) {
                if let Ok(bytes) = <[u8; 32]>::try_from(decoded.as_slice()) {
                    return Ok(KeyMaterial {
                        bytes,
                        encoding: KeyEncoding::Base64,
                    });
                }
            }
        }
        if text.chars().count() >= 16 {
            let digest = Sha256::digest(text.as_bytes());
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(&digest);
            return Ok(KeyMaterial {
                bytes,
                encoding: KeyEncoding::Sha256Stretched,
            });
        }
        Err(CryptoError::KeyTooShort {
            setting: setting.to_string(),
            key_id: key_id.to_string(),
        })
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.bytes).into())
    }
}

/// The configured keys, newest first. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<(String, KeyMaterial)>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("key_ids", &self.key_ids()).finish()
    }
}

const FORMAT_VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// The associated data of one value: owner, exchange and field. The owner is the user's id
/// (a row sealed before ids were UUIDs names the integer id it was sealed for).
pub fn associated_data(owner: impl fmt::Display, exchange: Exchange, field: Field) -> Vec<u8> {
    format!(
        "crypto-saas|{FORMAT_VERSION}|user:{owner}|exchange:{}|field:{}",
        exchange.as_str(),
        field.as_str()
    )
    .into_bytes()
}

/// The associated data of a user's TOTP secret. It names a purpose where exchange values name an
/// exchange and a field, so an exchange ciphertext moved into `users.totp_secret` (or the
/// reverse) does not open.
pub fn totp_associated_data(owner: UserId) -> Vec<u8> {
    format!("crypto-saas|{FORMAT_VERSION}|user:{owner}|purpose:totp_secret").into_bytes()
}

/// A user's TOTP secret as `users.totp_secret` holds it: sealed under the key ring for that
/// user. Rows, the identity cache and writes carry this; the base32 text exists only where a
/// code is checked ([`SealedTotp::open`]) and in the setup answer.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTotp(String);

impl fmt::Debug for SealedTotp {
    // Only the key id: a row read before start-up sealed it may still hold plaintext.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match KeyRing::key_id_of(&self.0) {
            Ok(id) => write!(f, "SealedTotp(key {id})"),
            Err(_) => f.write_str("SealedTotp(<not sealed>)"),
        }
    }
}

impl SealedTotp {
    /// Seals `secret` (base32) for `user_id` with the newest key.
    pub fn seal(ring: &KeyRing, user_id: UserId, secret: &str) -> Result<SealedTotp, CryptoError> {
        ring.encrypt(secret, &totp_associated_data(user_id)).map(SealedTotp)
    }

    /// The column's text as read; [`SealedTotp::open`] refuses it unless it is sealed.
    pub fn from_stored(text: String) -> SealedTotp {
        SealedTotp(text)
    }

    /// Whether stored text is sealed (plaintext rows come from before sealing: base32 never has a `:`).
    pub fn is_sealed(text: &str) -> bool {
        split(text).is_ok()
    }

    /// The text to store or to compare with the column.
    pub fn stored(&self) -> &str {
        &self.0
    }

    /// The base32 secret; only where a code is checked.
    pub fn open(&self, ring: &KeyRing, user_id: UserId) -> Result<SecretText, CryptoError> {
        ring.decrypt(&self.0, &totp_associated_data(user_id))
    }
}

impl KeyRing {
    /// Builds the ring from `(id, key text)` pairs, newest first.
    pub fn from_texts<S: AsRef<str>>(setting: &str, entries: &[(String, S)]) -> Result<KeyRing, CryptoError> {
        if entries.is_empty() {
            return Err(CryptoError::NoKeys {
                setting: setting.to_string(),
            });
        }
        let keys = entries
            .iter()
            .map(|(id, text)| KeyMaterial::parse(text.as_ref(), setting, id).map(|k| (id.clone(), k)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeyRing { keys })
    }

    /// A ring of parsed keys, newest first.
    pub fn from_keys(keys: Vec<(String, KeyMaterial)>) -> KeyRing {
        KeyRing { keys }
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Ids of keys that were stretched from free text (for a start-up warning).
    pub fn stretched_key_ids(&self) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|(_, k)| k.encoding == KeyEncoding::Sha256Stretched)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The id new values are sealed with.
    pub fn newest_id(&self) -> &str {
        self.keys.first().map(|(id, _)| id.as_str()).unwrap_or("")
    }

    /// The newest key and its id (new values are sealed with it).
    pub fn newest(&self) -> Option<(&str, &KeyMaterial)> {
        self.keys.first().map(|(id, k)| (id.as_str(), k))
    }

    /// The id of the ring key with the same bytes as `key`, if any.
    pub fn id_of(&self, key: &KeyMaterial) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, k)| k.bytes == key.bytes)
            .map(|(id, _)| id.as_str())
    }

    fn key(&self, id: &str) -> Option<&KeyMaterial> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, k)| k)
    }

    /// Seals with the newest key.
    pub fn encrypt(&self, plaintext: &str, aad: &[u8]) -> Result<String, CryptoError> {
        let (id, key) = self.keys.first().ok_or(CryptoError::Seal)?;
        seal(id, key, plaintext, aad)
    }

    /// Opens a value with the key it is tagged with.
    pub fn decrypt(&self, sealed: &str, aad: &[u8]) -> Result<SecretText, CryptoError> {
        let (id, _) = split(sealed)?;
        let key = self.key(id).ok_or_else(|| CryptoError::UnknownKey(id.to_string()))?;
        open_with(key, sealed, aad)
    }

    /// The key id a value is tagged with.
    pub fn key_id_of(sealed: &str) -> Result<&str, CryptoError> {
        split(sealed).map(|(id, _)| id)
    }
}

fn split(sealed: &str) -> Result<(&str, &str), CryptoError> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(FORMAT_VERSION), Some(id), Some(body)) if !id.is_empty() && !body.is_empty() => Ok((id, body)),
        _ => Err(CryptoError::BadFormat),
    }
}

/// Seals `plaintext` with `key`, tagging it with `key_id`.
pub fn seal(key_id: &str, key: &KeyMaterial, plaintext: &str, aad: &[u8]) -> Result<String, CryptoError> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad,
            },
        )
        .map_err(|_| CryptoError::Seal)?;
    let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    Ok(format!("{FORMAT_VERSION}:{key_id}:{}", STANDARD.encode(blob)))
}

/// Opens a sealed value with an explicit key, whatever id it is tagged with.
pub fn open_with(key: &KeyMaterial, sealed: &str, aad: &[u8]) -> Result<SecretText, CryptoError> {
    let (_, body) = split(sealed)?;
    let blob = STANDARD.decode(body).map_err(|_| CryptoError::BadFormat)?;
    if blob.len() < NONCE_LEN + 16 {
        return Err(CryptoError::BadFormat);
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let plain = key
        .cipher()
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .map_err(|_| CryptoError::Open)?;
    String::from_utf8(plain).map(SecretText).map_err(|_| CryptoError::Open)
}

/// `abc***xyz`; all `*` when the text has 6 characters or fewer.
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    const B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef0123456789abcdef"

    fn ring(entries: &[(&str, &str)]) -> KeyRing {
        let entries: Vec<(String, String)> = entries.iter().map(|(i, k)| (i.to_string(), k.to_string())).collect();
        KeyRing::from_texts("ENCRYPTION_KEYS", &entries).unwrap()
    }

    fn aad() -> Vec<u8> {
        associated_data(user(7), Exchange::Binance, Field::ApiSecret)
    }

    #[test]
    fn key_text_forms_are_accepted() {
        let raw = b"0123456789abcdef0123456789abcdef";
        let forms = [
            (STANDARD.encode(raw), KeyEncoding::Base64),
            (STANDARD_NO_PAD.encode(raw), KeyEncoding::Base64),
            (URL_SAFE.encode([0xfbu8; 32]), KeyEncoding::Base64),
            (URL_SAFE_NO_PAD.encode([0xfbu8; 32]), KeyEncoding::Base64),
            (hex::encode(raw), KeyEncoding::Hex),
            ("a passphrase of some length".to_string(), KeyEncoding::Sha256Stretched),
            ("exactly16chars!!".to_string(), KeyEncoding::Sha256Stretched),
        ];
        for (text, encoding) in forms {
            let key = KeyMaterial::parse(&text, "ENCRYPTION_KEY", "k1").unwrap();
            assert_eq!(key.encoding, encoding, "{text}");
        }
        // the same 32 bytes whichever encoding was used
        let a = KeyMaterial::parse(&STANDARD.encode(raw), "S", "k").unwrap();
        let b = KeyMaterial::parse(&hex::encode(raw), "S", "k").unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.bytes, *raw);
    }

    #[test]
    fn short_key_is_a_clear_error_naming_the_setting() {
        let err = KeyMaterial::parse("fifteen-chars!!", "ENCRYPTION_KEY", "k1").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("ENCRYPTION_KEY: key `k1` is too short"), "{text}");
        assert!(!text.contains("fifteen"));
        let entries: Vec<(String, String)> = vec![];
        assert!(matches!(
            KeyRing::from_texts("ENCRYPTION_KEYS", &entries),
            Err(CryptoError::NoKeys { .. })
        ));
    }

    #[test]
    fn round_trip_with_fresh_nonces_and_the_newest_key() {
        let r = ring(&[("new", "another passphrase here"), ("old", B64)]);
        let a = r.encrypt("s3cr3t-value", &aad()).unwrap();
        let b = r.encrypt("s3cr3t-value", &aad()).unwrap();
        assert_ne!(a, b, "fresh nonce per value");
        assert!(a.starts_with("v1:new:"));
        assert!(!a.contains("s3cr3t"));
        assert_eq!(r.decrypt(&a, &aad()).unwrap().expose(), "s3cr3t-value");
        assert_eq!(KeyRing::key_id_of(&a), Ok("new"));
    }

    #[test]
    fn reads_use_the_tagged_key() {
        let old = ring(&[("old", B64)]);
        let sealed = old.encrypt("value", &aad()).unwrap();
        let rotated = ring(&[("new", "another passphrase here"), ("old", B64)]);
        assert_eq!(rotated.decrypt(&sealed, &aad()).unwrap().expose(), "value");
        let without_old = ring(&[("new", "another passphrase here")]);
        assert_eq!(
            without_old.decrypt(&sealed, &aad()),
            Err(CryptoError::UnknownKey("old".into()))
        );
        // same id, other bytes: does not open
        let impostor = ring(&[("old", "another passphrase here")]);
        assert_eq!(impostor.decrypt(&sealed, &aad()), Err(CryptoError::Open));
    }

    #[test]
    fn tamper_wrong_aad_and_bad_format_are_errors_not_panics() {
        let r = ring(&[("k1", B64)]);
        let sealed = r.encrypt("plain-secret", &aad()).unwrap();
        // flip one byte of the ciphertext
        let (prefix, body) = sealed.rsplit_once(':').unwrap();
        let mut blob = STANDARD.decode(body).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = format!("{prefix}:{}", STANDARD.encode(&blob));
        assert_eq!(r.decrypt(&tampered, &aad()), Err(CryptoError::Open));
        // another user, another exchange, another field
        for other in [
            associated_data(user(8), Exchange::Binance, Field::ApiSecret),
            associated_data(user(7), Exchange::Ibkr, Field::ApiSecret),
            associated_data(user(7), Exchange::Binance, Field::ApiKey),
        ] {
            assert_eq!(r.decrypt(&sealed, &other), Err(CryptoError::Open));
        }
        for bad in [
            "",
            "plain-secret",
            "v1:k1:",
            "v2:k1:AAAA",
            "v1::AAAA",
            "v1:k1:not base64!",
            "v1:k1:AAAA",
        ] {
            let err = r.decrypt(bad, &aad()).unwrap_err();
            assert!(matches!(err, CryptoError::BadFormat), "{bad}: {err:?}");
        }
        for err in [
            CryptoError::Open,
            CryptoError::BadFormat,
            CryptoError::UnknownKey("k9".into()),
        ] {
            assert!(!err.to_string().contains("plain-secret"));
        }
    }

    #[test]
    fn secrets_redact_debug() {
        let s = SecretText::new("hunter2-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        let creds = Credentials {
            api_key: SecretText::new("key-material-123"),
            api_secret: s,
        };
        let shown = format!("{creds:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("key-material"), "{shown}");
        let r = ring(&[("k1", B64)]);
        let shown = format!("{r:?} {:?}", KeyMaterial::parse(B64, "S", "k1").unwrap());
        assert!(!shown.contains(B64) && !shown.contains("0123456789"), "{shown}");
    }

    const TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    #[test]
    fn totp_round_trip_with_the_newest_key_and_no_plaintext() {
        let r = ring(&[("new", "another passphrase here"), ("old", B64)]);
        let a = SealedTotp::seal(&r, user(7), TOTP).unwrap();
        let b = SealedTotp::seal(&r, user(7), TOTP).unwrap();
        assert_ne!(a, b, "fresh nonce per value");
        assert!(a.stored().starts_with("v1:new:"), "{}", a.stored());
        assert!(!a.stored().contains(TOTP) && SealedTotp::is_sealed(a.stored()));
        assert!(!SealedTotp::is_sealed(TOTP));
        assert_eq!(a.open(&r, user(7)).unwrap().expose(), TOTP);
        let stored = SealedTotp::from_stored(a.stored().to_string());
        assert_eq!(stored.open(&r, user(7)).unwrap().expose(), TOTP);
        assert_eq!(format!("{a:?}"), "SealedTotp(key new)");
        let plain = SealedTotp::from_stored(TOTP.to_string());
        assert_eq!(format!("{plain:?}"), "SealedTotp(<not sealed>)");
        assert_eq!(plain.open(&r, user(7)), Err(CryptoError::BadFormat));
    }

    #[test]
    fn totp_of_another_user_does_not_open() {
        let r = ring(&[("k1", B64)]);
        let sealed = SealedTotp::seal(&r, user(7), TOTP).unwrap();
        assert_eq!(sealed.open(&r, user(8)), Err(CryptoError::Open));
        let other_key = ring(&[("k1", "another passphrase here")]);
        assert_eq!(sealed.open(&other_key, user(7)), Err(CryptoError::Open));
    }

    #[test]
    fn exchange_and_totp_ciphertexts_do_not_open_as_each_other() {
        let r = ring(&[("k1", B64)]);
        for field in [Field::ApiKey, Field::ApiSecret] {
            let exchange = r
                .encrypt(TOTP, &associated_data(user(7), Exchange::Binance, field))
                .unwrap();
            let moved = SealedTotp::from_stored(exchange);
            assert_eq!(moved.open(&r, user(7)), Err(CryptoError::Open));
            let totp = SealedTotp::seal(&r, user(7), TOTP).unwrap();
            let aad = associated_data(user(7), Exchange::Binance, field);
            assert_eq!(r.decrypt(totp.stored(), &aad), Err(CryptoError::Open));
        }
    }

    #[test]
    fn masking() {
        assert_eq!(mask("abcdefghij"), "abc***hij");
        assert_eq!(mask("abcdefg"), "abc***efg");
        assert_eq!(mask("abcdef"), "******");
        assert_eq!(mask("ab"), "**");
        assert_eq!(mask(""), "");
    }
}
