//! Bounds on decoding FCS files, which costs up to 8× a file's size (8-bit integers become
//! `f64`s) and runs on the blocking pool, outside the cache's budget.
//!
//! - **One file's decoded size is capped** by the smaller of `FCS_CACHE_MB` and
//!   `FCS_DECODE_MEMORY_MB` ([`Decoder::max_decoded_bytes`]): a file that decodes larger is
//!   refused (at upload, 422, naming the setting). Within the cache budget, every decoded file
//!   can be kept, so none is decoded again on every request; within the decode budget, its
//!   decode can always start. (Streaming statistics would avoid the decoded copy for
//!   `/statistics`, but `/events` pages and medians need the columns anyway.)
//! - **Decodes in flight share a memory budget**, `FCS_DECODE_MEMORY_MB`: a semaphore whose
//!   permits are KiB (`acquire_many` takes a `u32`, so bytes would cap one file at 4 GiB). Each
//!   decode reserves its decoded size before it starts and releases it when the blocking work
//!   ends — also when the request that started it has gone.
//! - **One decode per file at a time** ([`Decoder::single_flight`]): a second request for a
//!   file being decoded waits for it and then finds it cached, while requests for other files go
//!   on (no global lock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tessera_fcs::{Dataset, FcsError, FcsFile};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use super::cache::FileKey;
use super::errors::{DecodeLimit, FcsRefusal};
use super::storage::run_blocking;
use super::view::{no_such_dataset, FcsData};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// See the module docs.
#[derive(Debug)]
pub struct Decoder {
    /// Free room of the decode budget, in KiB.
    budget: Arc<Semaphore>,
    limit: DecodeLimit,
    flights: Flights,
    #[cfg(test)]
    probe: probe::Slot,
}

impl Decoder {
    /// A decoder for a cache of `cache_mb` and a decode budget of `decode_mb` (both MiB).
    pub fn new(cache_mb: u64, decode_mb: u64) -> Decoder {
        let budget_kib = usize::try_from(decode_mb.saturating_mul(MIB / KIB)).unwrap_or(usize::MAX);
        Decoder {
            budget: Arc::new(Semaphore::new(budget_kib.min(Semaphore::MAX_PERMITS))),
            limit: decode_limit(cache_mb, decode_mb),
            flights: Flights::default(),
            #[cfg(test)]
            probe: probe::Slot::default(),
        }
    }

    /// The largest decoded size one file may have, in bytes.
    pub fn max_decoded_bytes(&self) -> u64 {
        self.limit.bytes()
    }

    /// Decodes dataset `index` of `file` once its decoded size fits the budget; a dataset
    /// larger than [`Self::max_decoded_bytes`] is refused without waiting.
    pub async fn decode(&self, file: FcsFile, index: usize) -> Result<FcsData, FcsRefusal> {
        let dataset = file.datasets().get(index).ok_or_else(|| {
            FcsRefusal::Invalid(FcsError::argument(
                "dataset",
                no_such_dataset(file.datasets().len()),
            ))
        })?;
        let bytes = self.admit(dataset)?;
        let room = self.reserve(bytes, dataset.event_count()).await;
        #[cfg(test)]
        let probe = self.probe.get();
        let decoded = run_blocking(move || {
            // Held by the blocking work itself: a request that gives up does not free memory
            // that is still being filled.
            let _room = room;
            #[cfg(test)]
            probe.notify(probe::Event::Decoding {
                events: file.datasets()[index].event_count(),
            });
            FcsData::decode(&file, index)
        })
        .await?;
        Ok(decoded)
    }

    /// Waits until no other request decodes the file `key`. Hold the returned guard while
    /// decoding and caching it.
    pub async fn single_flight(&self, key: FileKey) -> Flight {
        let lock = self.flights.lock_for(key);
        if let Ok(flight) = lock.clone().try_lock_owned() {
            return flight;
        }
        #[cfg(test)]
        self.probe.get().notify(probe::Event::WaitingForFlight(key));
        lock.lock_owned().await
    }

    /// The decoded size of `dataset`, or the refusal when it exceeds one file's cap.
    fn admit(&self, dataset: &Dataset) -> Result<u64, FcsRefusal> {
        let (events, parameters) = (dataset.event_count(), dataset.parameters().len());
        let bytes = decoded_bytes(events, parameters);
        if bytes > self.max_decoded_bytes() {
            return Err(FcsRefusal::DecodesTooLarge {
                events,
                parameters,
                bytes,
                limit: self.limit,
            });
        }
        Ok(bytes)
    }

    /// Reserves `bytes` of the decode budget, waiting for decodes in flight to end.
    async fn reserve(&self, bytes: u64, _events: usize) -> OwnedSemaphorePermit {
        // `admit` capped `bytes` at the decode budget, whose KiB fit a u32 (see config.rs).
        let kib = u32::try_from(bytes.div_ceil(KIB)).unwrap_or(u32::MAX);
        if let Ok(room) = self.budget.clone().try_acquire_many_owned(kib) {
            return room;
        }
        #[cfg(test)]
        self.probe
            .get()
            .notify(probe::Event::QueuedForMemory { events: _events });
        self.budget
            .clone()
            .acquire_many_owned(kib)
            .await
            .expect("the decode budget is never closed")
    }
}

/// The cap on one file's decoded size: the cache budget (so a decoded file can be kept) and the
/// decode budget (so its decode can start), whichever is smaller. A cache of 0 keeps nothing
/// anyway, so then only the decode budget applies.
fn decode_limit(cache_mb: u64, decode_mb: u64) -> DecodeLimit {
    if cache_mb > 0 && cache_mb <= decode_mb {
        DecodeLimit::Cache(cache_mb)
    } else {
        DecodeLimit::DecodeMemory(decode_mb)
    }
}

/// Bytes the decoded columns take: one `f64` per value.
pub fn decoded_bytes(events: usize, parameters: usize) -> u64 {
    (events as u64)
        .saturating_mul(parameters as u64)
        .saturating_mul(std::mem::size_of::<f64>() as u64)
}

/// One lock per file being decoded, held weakly: a lock lives only while a request holds or
/// awaits it, and dead entries are dropped at the next lookup.
#[derive(Debug, Default)]
struct Flights(Mutex<HashMap<FileKey, Weak<AsyncMutex<()>>>>);

impl Flights {
    fn lock_for(&self, key: FileKey) -> Arc<AsyncMutex<()>> {
        // Every update is one statement, so a panic elsewhere cannot leave the map half-changed.
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.retain(|_, lock| lock.strong_count() > 0);
        if let Some(lock) = map.get(&key).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::default();
        map.insert(key, Arc::downgrade(&lock));
        lock
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// The right to decode one file; see [`Decoder::single_flight`].
pub type Flight = OwnedMutexGuard<()>;

/// Test-only observation points, so tests can tell "waits" from "runs" without timing anything.
#[cfg(test)]
pub mod probe {
    use std::sync::{Arc, Mutex};

    use super::FileKey;

    /// What a decode is doing.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Event {
        /// The file is being decoded by another request; this one waits for it.
        WaitingForFlight(FileKey),
        /// The decode budget has no room for this file yet; it waits.
        QueuedForMemory { events: usize },
        /// Room reserved; decoding starts (on the blocking pool, where the probe may block).
        Decoding { events: usize },
    }

    /// A test's callback.
    pub type Probe = Arc<dyn Fn(Event) + Send + Sync>;

    /// Where a test installs its probe.
    #[derive(Default)]
    pub struct Slot(Mutex<Option<Probe>>);

    impl std::fmt::Debug for Slot {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe::Slot")
        }
    }

    impl Slot {
        pub fn set(&self, probe: Probe) {
            *self.0.lock().unwrap() = Some(probe);
        }

        pub fn get(&self) -> Installed {
            Installed(self.0.lock().unwrap().clone())
        }
    }

    /// The probe installed when a decode started (if any).
    pub struct Installed(Option<Probe>);

    impl Installed {
        pub fn notify(&self, event: Event) {
            if let Some(probe) = &self.0 {
                probe(event);
            }
        }
    }
}

#[cfg(test)]
impl Decoder {
    /// Installs a probe that sees every later wait and decode.
    pub fn set_probe(&self, probe: probe::Probe) {
        self.probe.set(probe);
    }

    /// Free room of the decode budget, in bytes.
    pub fn free_bytes(&self) -> u64 {
        self.budget.available_permits() as u64 * KIB
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_may_take_the_smaller_of_the_cache_and_the_decode_budget() {
        assert_eq!(decode_limit(512, 1024), DecodeLimit::Cache(512));
        assert_eq!(decode_limit(2048, 1024), DecodeLimit::DecodeMemory(1024));
        assert_eq!(decode_limit(0, 1024), DecodeLimit::DecodeMemory(1024));
        assert_eq!(Decoder::new(512, 1024).max_decoded_bytes(), 512 * MIB);
        assert_eq!(decoded_bytes(34_297, 26), 34_297 * 26 * 8);
        assert_eq!(decoded_bytes(usize::MAX, 2), u64::MAX);
    }

    #[tokio::test]
    async fn flights_are_forgotten_once_nobody_holds_or_awaits_them() {
        let decoder = Decoder::new(1, 1);
        let first = decoder.single_flight(FileKey::Sample).await;
        let mut waiting = Box::pin(decoder.single_flight(FileKey::Sample));
        // Polled once, the waiter queues behind `first`; then its request gives up.
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        drop(waiting);
        drop(first);
        let other = decoder
            .single_flight(FileKey::Upload(uuid::Uuid::now_v7()))
            .await;
        assert_eq!(decoder.flights.len(), 1);
        drop(other);
    }
}
