//! What a new password must be (NIST SP 800-63B): at least `PASSWORD_MIN_LENGTH` characters, at
//! most `MAX_CHARS` (bounding the hashing work per request), and not one of the commonly breached
//! passwords — the ~100,000 of the `passwords` crate's table (public breach corpora), as typed or
//! lower-cased.

pub const MAX_CHARS: usize = 1024;
/// The least `PASSWORD_MIN_LENGTH` may be.
pub const LEAST_MIN_CHARS: usize = 8;
/// The longest entry of the breached list: a longer password cannot be one of them.
const LONGEST_BREACHED: usize = 32;

/// Why a new password is refused; `Display` is the 422's `msg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("String should have at least {0} characters")]
    TooShort(usize),
    #[error("String should have at most {MAX_CHARS} characters")]
    TooLong,
    #[error("Password is too common: it appears in lists of breached passwords")]
    Breached,
}

impl WeakPassword {
    /// The 422's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            WeakPassword::TooShort(_) => "string_too_short",
            WeakPassword::TooLong => "string_too_long",
            WeakPassword::Breached => "password_breached",
        }
    }
}

pub fn check(password: &str, min_chars: usize) -> Result<(), WeakPassword> {
    let chars = password.chars().count();
    if chars < min_chars {
        return Err(WeakPassword::TooShort(min_chars));
    }
    if chars > MAX_CHARS {
        return Err(WeakPassword::TooLong);
    }
    if chars <= LONGEST_BREACHED && is_breached(password) {
        return Err(WeakPassword::Breached);
    }
    Ok(())
}

fn is_breached(password: &str) -> bool {
    use passwords::analyzer::is_common_password;
    is_common_password(password) || is_common_password(password.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_passwords_are_refused_whole_in_any_case_and_substitution() {
        for weak in [
            "password",
            "Password",
            "qwerty123",
            "p@ssw0rd",
            "iloveyou",
            "12345678",
            "trustno1",
        ] {
            assert_eq!(check(weak, 8), Err(WeakPassword::Breached), "{weak}");
        }
        for fine in ["correct-horse-battery", "Tr4d1ng-desk-2026!", "zq8#Lm2v!Rt"] {
            assert_eq!(check(fine, 8), Ok(()), "{fine}");
        }
    }

    #[test]
    fn length_comes_first_and_names_the_minimum() {
        assert_eq!(check("short", 8), Err(WeakPassword::TooShort(8)));
        assert_eq!(check("abcdefghijk", 12), Err(WeakPassword::TooShort(12)));
        assert_eq!(check(&"x".repeat(MAX_CHARS + 1), 8), Err(WeakPassword::TooLong));
        assert_eq!(
            WeakPassword::TooShort(8).to_string(),
            "String should have at least 8 characters"
        );
        assert_eq!(WeakPassword::Breached.kind(), "password_breached");
    }
}
