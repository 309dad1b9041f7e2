//! Password hashing with argon2id, off the async workers and with bounded concurrency.
//!
//! One hash costs 19 MiB and a core for tens of milliseconds (OWASP's argon2id parameters:
//! m = 19 MiB, t = 2, p = 1). Run on a Tokio worker it would stall every request sharing that
//! worker; run without a bound, a login flood would take all memory and every core. So hashes run
//! on a small pool of dedicated threads (one per core by default), fed by a bounded queue
//! (`PASSWORD_HASH_QUEUE`): when it is full a login is refused at once with 503 and `Retry-After`
//! instead of waiting past the request timeout, and a job whose request has gone (the client hung
//! up, the timeout fired) is dropped before it is hashed, so a flood stops costing CPU when it
//! stops. A login takes its place in that queue ([`PasswordHasher::take_place`]) before it does
//! anything else, so a full queue is answered before any database write or lockout delay.
//!
//! Those threads run at a lower scheduling priority (nice 10 on Linux). With nothing else to do
//! they still get whole cores, so login throughput is unchanged; but when a login flood keeps
//! them busy, the Tokio workers serving every other request win the CPU whenever they need it,
//! which keeps `/health` and PAT routes fast during the flood (see bench/login.sh).
//!
//! Unknown usernames are verified against a dummy hash with the same parameters, so "no such user"
//! costs the same time as "wrong password" and the response time does not reveal which it was.

use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    jobs: mpsc::SyncSender<Job>,
    /// One permit per running or waiting job: the threads plus the queue's places.
    places: Arc<Semaphore>,
    /// How many places there are.
    capacity: usize,
    dummy_hash: Arc<str>,
}

/// A place in the hashing queue, held from before a check's bookkeeping until its hash is done
/// (or the place is dropped unused).
pub struct HashingPlace(OwnedSemaphorePermit);

/// Why a hash did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every hashing thread is busy and the queue is full: a flood, or more sign-ins than the
    /// machine can hash. Passing; the client should retry.
    #[error("Too many sign-ins at once; try again in a moment")]
    QueueFull,
    /// The hashing threads are gone (shutting down) or a job failed.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Starts `threads` hashing threads taking jobs from one queue; they end when every sender is
/// gone. The channel holds `capacity` jobs, as many as there are places, so a job with a place
/// always fits.
fn start_pool(threads: usize, capacity: usize) -> anyhow::Result<mpsc::SyncSender<Job>> {
    let (sender, receiver) = mpsc::sync_channel::<Job>(capacity);
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
    /// A hasher running at most `concurrency` hashes at once, on threads of its own, with at most
    /// `queue` more waiting.
    pub fn new(concurrency: usize, queue: usize) -> anyhow::Result<Self> {
        let dummy_hash = hash_blocking(&crate::crypto::random_base62(24))?;
        let threads = concurrency.max(1);
        let places = threads + queue;
        Ok(PasswordHasher {
            jobs: start_pool(threads, places)?,
            places: Arc::new(Semaphore::new(places)),
            capacity: places,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Checks running or waiting for a hashing thread now.
    pub fn jobs(&self) -> usize {
        self.capacity
            .saturating_sub(self.places.available_permits())
    }

    /// Takes a place for one hash, or says at once that every place is taken.
    pub fn take_place(&self) -> Result<HashingPlace, HashingError> {
        self.places
            .clone()
            .try_acquire_owned()
            .map(HashingPlace)
            .map_err(|_| HashingError::QueueFull)
    }

    /// Runs `work` on a hashing thread and waits for its result without blocking the caller's
    /// thread. Refused at once when the queue is full; skipped if the caller has gone by the time
    /// a thread takes it.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let place = self.take_place()?;
        self.run_in(place, work).await
    }

    /// [`Self::run`] in a place taken earlier; the place is given back when the job has run or
    /// been skipped.
    async fn run_in<T: Send + 'static>(
        &self,
        HashingPlace(permit): HashingPlace,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            if !done.is_closed() {
                let _ = done.send(work());
            }
        });
        self.jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) => HashingError::QueueFull,
            TrySendError::Disconnected(_) => {
                HashingError::Failed("the hashing threads are gone".to_owned())
            }
        })?;
        result
            .await
            .map_err(|_| HashingError::Failed("a hashing job was dropped".to_owned()))
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashingError> {
        self.run(move || hash_blocking(&password))
            .await?
            .map_err(|error| HashingError::Failed(error.to_string()))
    }

    /// Verifies `password` against `phc` in `place`, or against the dummy hash when there is no
    /// user, so both cases take the same time. Returns true only for a real match.
    pub async fn verify(
        &self,
        place: HashingPlace,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, HashingError> {
        let user_exists = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self
            .run_in(place, move || verify_blocking(&password, &phc))
            .await?;
        Ok(matched && user_exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let hasher = PasswordHasher::new(2, 8).unwrap();
        let phc = hasher.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let verify = |password: &str, phc: Option<String>| {
            let place = hasher.take_place().unwrap();
            hasher.verify(place, password.to_owned(), phc)
        };
        assert!(verify("correct horse", Some(phc.clone())).await.unwrap());
        assert!(!verify("wrong horse", Some(phc)).await.unwrap());
        assert!(!verify("anything", None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_at_once_and_abandoned_jobs_are_skipped() {
        use futures::FutureExt;
        use std::sync::atomic::{AtomicBool, Ordering};

        let hasher = PasswordHasher::new(1, 1).unwrap();
        // Hold the one thread, and wait until it has taken the job.
        let (started, has_started) = std::sync::mpsc::channel::<()>();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let hasher = hasher.clone();
            async move {
                let work = move || {
                    started.send(()).unwrap();
                    held.recv().unwrap();
                };
                hasher.run(work).await
            }
        });
        tokio::task::spawn_blocking(move || has_started.recv())
            .await
            .unwrap()
            .unwrap();
        // A job is queued, then its caller goes away (the future is dropped after one poll).
        let ran = Arc::new(AtomicBool::new(false));
        let abandoned = {
            let ran = ran.clone();
            hasher.run(move || ran.store(true, Ordering::SeqCst))
        };
        assert!(abandoned.now_or_never().is_none(), "queued, not refused");
        // The queue is full now: the next job is refused at once.
        let refused = hasher.run(|| ()).now_or_never();
        assert!(matches!(refused, Some(Err(HashingError::QueueFull))));
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        // A job behind it shows the thread has passed the abandoned one without running it. Its
        // place frees only once the thread has taken the abandoned job, so retry until it fits.
        loop {
            match hasher.run(|| ()).await {
                Err(HashingError::QueueFull) => tokio::task::yield_now().await,
                other => break other.unwrap(),
            }
        }
        assert!(!ran.load(Ordering::SeqCst));
    }
}
