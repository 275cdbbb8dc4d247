//! RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps), accepting the previous, current and next
//! step. Pure functions: the caller supplies the time and the last accepted step, and stores the
//! step this module returns so the same code is never accepted twice (RFC 6238 §5.2).

use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

pub const STEP_SECS: u64 = 30;
pub const DIGITS: usize = 6;
pub const SECRET_BYTES: usize = 20;
pub const ISSUER: &str = "crypto-saas";

/// A new random 160-bit secret, base32 without padding.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    BASE32_NOPAD.encode(&bytes)
}

/// The provisioning URI authenticator apps read (exactly the contract's shape).
pub fn otpauth_uri(email: &str, secret: &str) -> String {
    format!("otpauth://totp/{ISSUER}:{email}?secret={secret}&issuer={ISSUER}")
}

/// The time step a Unix time falls in.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

fn totp(secret_base32: &str) -> Option<TOTP> {
    let normalized = secret_base32.trim().trim_end_matches('=').to_ascii_uppercase();
    let bytes = BASE32_NOPAD.decode(normalized.as_bytes()).ok()?;
    if bytes.is_empty() {
        return None;
    }
    Some(TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP_SECS, bytes))
}

/// The code of the step containing `unix_secs`; `None` for an undecodable secret.
pub fn code_at(secret_base32: &str, unix_secs: u64) -> Option<String> {
    totp(secret_base32).map(|t| t.generate(unix_secs))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The step (previous, current or next, relative to `unix_secs`) whose code is `code` and that is
/// later than `last_step`; `None` when the code is wrong, malformed, or a replay.
pub fn accepted_step(secret_base32: &str, code: &str, unix_secs: u64, last_step: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret_base32)?;
    let current = step_of(unix_secs);
    let mut accepted = None;
    for step in [current.checked_sub(1), Some(current), Some(current + 1)]
        .into_iter()
        .flatten()
    {
        let Ok(step_signed) = i64::try_from(step) else { continue };
        if last_step.is_some_and(|last| step_signed <= last) {
            continue;
        }
        let expected = totp.generate(step * STEP_SECS);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            accepted = Some(step_signed);
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret ("12345678901234567890"), base32.
    fn rfc_secret() -> String {
        BASE32_NOPAD.encode(b"12345678901234567890")
    }

    #[test]
    fn rfc6238_vectors_truncated_to_six_digits() {
        let s = rfc_secret();
        assert_eq!(code_at(&s, 59).unwrap(), "287082");
        assert_eq!(code_at(&s, 1_111_111_109).unwrap(), "081804");
        assert_eq!(code_at(&s, 1_111_111_111).unwrap(), "050471");
        assert_eq!(code_at(&s, 1_234_567_890).unwrap(), "005924");
        assert_eq!(code_at(&s, 2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn secrets_are_160_bit_base32_without_padding() {
        let s = generate_secret();
        assert_eq!(s.len(), 32);
        assert!(!s.contains('='));
        assert_eq!(BASE32_NOPAD.decode(s.as_bytes()).unwrap().len(), SECRET_BYTES);
        assert_ne!(s, generate_secret());
    }

    #[test]
    fn uri_shape() {
        assert_eq!(
            otpauth_uri("a@b.co", "ABC"),
            "otpauth://totp/crypto-saas:a@b.co?secret=ABC&issuer=crypto-saas"
        );
    }

    #[test]
    fn window_is_previous_current_next() {
        let s = generate_secret();
        let now = 1_700_000_015; // middle of a step
        let step = step_of(now) as i64;
        for (offset, expected) in [(-30i64, Some(step - 1)), (0, Some(step)), (30, Some(step + 1))] {
            let code = code_at(&s, (now as i64 + offset) as u64).unwrap();
            assert_eq!(accepted_step(&s, &code, now, None), expected, "offset {offset}");
        }
        for offset in [-60i64, 60, -90, 90] {
            let code = code_at(&s, (now as i64 + offset) as u64).unwrap();
            // A code two steps away may collide with a window code by chance (1 in 10^6).
            if [-30i64, 0, 30]
                .iter()
                .any(|o| code_at(&s, (now as i64 + o) as u64).unwrap() == code)
            {
                continue;
            }
            assert_eq!(accepted_step(&s, &code, now, None), None, "offset {offset}");
        }
    }

    #[test]
    fn replays_and_older_steps_are_refused() {
        let s = generate_secret();
        let now = 1_700_000_015;
        let step = step_of(now) as i64;
        let code = code_at(&s, now).unwrap();
        assert_eq!(accepted_step(&s, &code, now, Some(step - 1)), Some(step));
        assert_eq!(accepted_step(&s, &code, now, Some(step)), None);
        let next = code_at(&s, now + 30).unwrap();
        assert_eq!(accepted_step(&s, &next, now, Some(step)), Some(step + 1));
        let previous = code_at(&s, now - 30).unwrap();
        assert_eq!(accepted_step(&s, &previous, now, Some(step)), None);
    }

    #[test]
    fn malformed_codes_and_secrets() {
        let s = generate_secret();
        let now = 1_700_000_015;
        for bad in ["", "12345", "1234567", "abcdef", "12 456"] {
            assert_eq!(accepted_step(&s, bad, now, None), None, "{bad:?}");
        }
        let code = code_at(&s, now).unwrap();
        assert_eq!(accepted_step("not base32 !", &code, now, None), None);
        assert!(accepted_step(&s, &format!(" {code} "), now, None).is_some());
        assert!(accepted_step(&s.to_lowercase(), &code, now, None).is_some());
    }
}
