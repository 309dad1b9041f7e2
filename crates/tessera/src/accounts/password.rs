//! Password hashing with argon2id, off the async workers and with bounded concurrency.
//!
//! One hash costs 19 MiB and a core for tens of milliseconds (OWASP's argon2id parameters:
//! m = 19 MiB, t = 2, p = 1). Run on a Tokio worker it would stall every request sharing that
//! worker; run without a bound, a login flood would take all memory and every core. So hashes run
//! on a small pool of dedicated threads (one per core by default), fed by a queue.
//!
//! Those threads run at a lower scheduling priority (nice 10 on Linux). With nothing else to do
//! they still get whole cores, so login throughput is unchanged; but when a login flood keeps
//! them busy, the Tokio workers serving every other request win the CPU whenever they need it,
//! which keeps `/health` and PAT routes fast during the flood (see bench/login.sh).
//!
//! Unknown usernames are verified against a dummy hash with the same parameters, so "no such user"
//! costs the same time as "wrong password" and the response time does not reveal which it was.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Niceness of the hashing threads: low enough that request-serving threads win contention.
const HASHING_NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    dummy_hash: Arc<str>,
}

/// Starts `threads` hashing threads taking jobs from one queue; they end when every sender is gone.
fn start_pool(threads: usize) -> anyhow::Result<mpsc::Sender<Job>> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..threads {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("password-hash-{n}"))
            .spawn(move || {
                lower_priority();
                loop {
                    let job = match receiver.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .context("starting a password-hashing thread")?;
    }
    Ok(sender)
}

/// Lowers the calling thread's priority (Linux schedules threads individually, so
/// `setpriority(PRIO_PROCESS, 0, …)` affects this thread only). Best effort: failing is harmless.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory-safety preconditions; it only changes this thread's nice.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICENESS);
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        // The parameters come from the stored string, so hashes made with older settings verify.
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` hashes at once, on threads of its own.
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let dummy_hash = hash_blocking(&crate::tokens::format::random_base62(24))?;
        Ok(PasswordHasher {
            jobs: start_pool(concurrency.max(1))?,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Runs `work` on a hashing thread and waits for its result without blocking the caller's
    /// thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| anyhow::anyhow!("password hashing threads are gone"))?;
        result.await.context("a password-hashing job was dropped")
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there is no user, so
    /// both cases take the same time. Returns true only for a real match.
    pub async fn verify(&self, password: String, phc: Option<String>) -> anyhow::Result<bool> {
        let user_exists = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self.run(move || verify_blocking(&password, &phc)).await?;
        Ok(matched && user_exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let hasher = PasswordHasher::new(2).unwrap();
        let phc = hasher.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher
            .verify("correct horse".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong horse".into(), Some(phc))
            .await
            .unwrap());
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
    }
}
