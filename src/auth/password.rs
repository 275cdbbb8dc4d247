//! Argon2id password hashing (OWASP parameters), always off the async threads. The old
//! service's bcrypt hashes (imported with `import-legacy`) verify too, and the login route
//! replaces them with argon2id at the first successful login.

use crate::http::ApiError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// OWASP's recommended argon2id setting: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"),
    )
}

/// A hash verified against when the email is unknown, so both paths cost the same time.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3xMfLQ1aZ2v0bCsuqs8Ddx3UPNTrJ7U0p5hXOXb3Xmc";

/// Argon2 runs on a small pool of its own threads, never more at once than it has threads:
/// a login storm then costs a bounded share of the CPU (the other routes keep their latency)
/// and a bounded amount of memory (19 MiB per thread, reused), instead of one 19 MiB buffer
/// per concurrent login on the shared blocking pool. A full queue answers 503 at once.
struct HashPool {
    jobs: std::sync::mpsc::SyncSender<Box<dyn FnOnce() + Send>>,
}

const QUEUE: usize = 256;

/// Puts the calling thread in Linux's `SCHED_IDLE` class: it runs only when nothing else wants
/// the core. Under contention the request threads and Postgres go first, so a login storm slows
/// logins, not the trading routes; on an idle machine hashing still gets a whole core.
fn lower_own_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a syscall on the calling thread (pid 0) with a valid, initialised parameter.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if result != 0 {
        tracing::warn!(
            "could not lower the argon2 thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn pool() -> &'static HashPool {
    static POOL: std::sync::OnceLock<HashPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        // Half the cores (at least one): hashing never takes the whole machine.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get() / 2)
            .unwrap_or(1)
            .max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Box<dyn FnOnce() + Send>>(QUEUE);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_own_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("start an argon2 thread");
        }
        HashPool { jobs }
    })
}

/// Runs `work` on the hashing pool.
async fn on_pool<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = reply.send(work());
    });
    pool().jobs.try_send(job).map_err(|_| {
        metrics::counter!("password_hash_queue_full_total").increment(1);
        ApiError::Unavailable
    })?;
    answer.await.map_err(|_| ApiError::Internal)
}

/// Whether `stored` is a bcrypt hash (the old service's passlib `$2b$` form, or its `$2a$`/`$2y$`
/// variants), which the next successful login replaces.
pub fn is_legacy(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|prefix| stored.starts_with(prefix))
}

fn verify_now(password: &SecretString, stored: &str) -> bool {
    if is_legacy(stored) {
        // bcrypt reads at most 72 bytes of the password, as passlib did when it made the hash.
        return bcrypt::verify(password.expose_secret().as_bytes(), stored).unwrap_or(false);
    }
    PasswordHash::new(stored)
        .map(|parsed| {
            hasher()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

pub async fn hash(password: SecretString) -> Result<String, ApiError> {
    on_pool(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await?
    .map_err(|_| ApiError::Internal)
}

/// Verifies `password` against `stored` (or against a dummy hash when there is no user, so
/// both cost the same). `Err` only when the pool cannot take the work now (503).
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, ApiError> {
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
    let ok = on_pool(move || verify_now(&password, &stored)).await?;
    Ok(ok && known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hash(SecretString::from("correct horse")).await.unwrap();
        assert!(verify(SecretString::from("correct horse"), Some(h.clone()))
            .await
            .unwrap());
        assert!(!verify(SecretString::from("wrong"), Some(h)).await.unwrap());
        assert!(!verify(SecretString::from("anything"), None).await.unwrap());
    }

    /// The stored hash is a PHC string naming what it cost: argon2id, version 0x13, OWASP's 19 MiB,
    /// 2 passes, 1 lane, a fresh 16-byte salt and a 32-byte output.
    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_a_fresh_salt() {
        let stored = hash(SecretString::from("correct horse")).await.unwrap();
        let parsed = PasswordHash::new(&stored).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id", "{stored}");
        assert_eq!(parsed.version, Some(0x13));
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (19 * 1024, 2, 1));
        let mut salt = [0u8; 64];
        assert_eq!(parsed.salt.unwrap().decode_b64(&mut salt).unwrap().len(), 16);
        assert_eq!(parsed.hash.unwrap().len(), 32);
        let again = hash(SecretString::from("correct horse")).await.unwrap();
        assert_ne!(PasswordHash::new(&again).unwrap().salt, parsed.salt, "a salt per hash");
    }

    /// An unknown email costs what a known one does: the dummy hash has the real parameters.
    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_stored_one_costs() {
        let stored = hash(SecretString::from("correct horse")).await.unwrap();
        let params = |text: &str| {
            let parsed = PasswordHash::new(text).unwrap();
            let algorithm = parsed.algorithm.to_string();
            (algorithm, parsed.version, Params::try_from(&parsed).unwrap())
        };
        assert_eq!(params(DUMMY_HASH), params(&stored));
    }

    #[tokio::test]
    async fn bcrypt_hashes_of_the_old_service_verify() {
        let legacy = bcrypt::hash("old password", 4).unwrap();
        assert!(is_legacy(&legacy), "{legacy}");
        assert!(verify(SecretString::from("old password"), Some(legacy.clone()))
            .await
            .unwrap());
        assert!(!verify(SecretString::from("wrong"), Some(legacy)).await.unwrap());
        let current = hash(SecretString::from("old password")).await.unwrap();
        assert!(!is_legacy(&current));
    }
}
