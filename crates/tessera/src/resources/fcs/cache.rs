//! Decoded files and gate populations kept between requests, each within a memory budget.
//!
//! Decoding a file costs a full pass over it and statistics another; clients page through events
//! and ask for statistics repeatedly, so both are kept ([`FcsData`] holds its statistics once
//! computed). The budget counts the decoded `f64` columns, which dwarf everything else; when a new
//! file does not fit, the least recently used files go first. A file larger than the whole budget
//! is served but not kept. Deleting a file evicts it.
//!
//! A gate's population costs a pass over its channels through its pipeline, and its parents'
//! before it; the file page shows every gate's on every view. Populations are kept too, one
//! flag per event, in a budget of their own: the sample is shared, and every user's gates on it
//! would otherwise grow without bound.
//!
//! The cache is per instance and only an accelerator: every instance can rebuild any entry from
//! object storage, so correctness never depends on it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::gates::Population;
use super::view::FcsData;

/// Which file an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKey {
    /// The built-in sample.
    Sample,
    /// An upload, by file id.
    Upload(Uuid),
}

/// Which dataset of which file an entry holds: files chained by `$NEXTDATA` hold several,
/// decoded one at a time as they are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataKey {
    /// The file.
    pub file: FileKey,
    /// The dataset, 0-based.
    pub dataset: usize,
}

/// Decoded datasets, by file and dataset.
pub type FcsCache = BudgetCache<DataKey, FcsData>;

/// Gate populations, by gate id. A saved gate never changes (it can only be deleted), nor
/// does the file it is drawn on, nor its parent: its population is computed once and kept
/// until the budget needs the room or the gate goes.
pub type PopulationCache = BudgetCache<Uuid, Population>;

/// What an entry costs the budget.
pub trait Weighed {
    fn size_in_bytes(&self) -> usize;
}

impl Weighed for FcsData {
    fn size_in_bytes(&self) -> usize {
        FcsData::size_in_bytes(self)
    }
}

impl Weighed for Population {
    /// One flag per event of the dataset.
    fn size_in_bytes(&self) -> usize {
        self.members.events()
    }
}

/// Entries within a memory budget, the least recently used leaving first; see the module docs.
#[derive(Debug)]
pub struct BudgetCache<K, V> {
    budget: usize,
    inner: Mutex<Entries<K, V>>,
}

#[derive(Debug)]
struct Entries<K, V> {
    map: HashMap<K, Entry<V>>,
    used: usize,
    clock: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    last_used: u64,
}

impl<K: Copy + Eq + Hash, V: Weighed> BudgetCache<K, V> {
    /// A cache holding at most `budget` bytes of entries.
    pub fn new(budget: usize) -> Self {
        BudgetCache {
            budget,
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                used: 0,
                clock: 0,
            }),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is one
        // statement), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `key`, marked as just used.
    pub fn get(&self, key: K) -> Option<Arc<V>> {
        let mut entries = self.entries();
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.map.get_mut(&key)?;
        entry.last_used = now;
        Some(entry.value.clone())
    }

    /// Keeps `value` under `key`, evicting least recently used entries until it fits; a value
    /// larger than the whole budget is not kept.
    pub fn insert(&self, key: K, value: Arc<V>) {
        let size = value.size_in_bytes();
        if size > self.budget {
            return;
        }
        let mut entries = self.entries();
        entries.remove(key);
        while entries.used + size > self.budget {
            let Some(oldest) = entries
                .map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            entries.remove(oldest);
        }
        entries.clock += 1;
        let last_used = entries.clock;
        entries.used += size;
        entries.map.insert(key, Entry { value, last_used });
    }

    /// Forgets every entry whose key `gone` says is gone.
    pub fn remove_where(&self, gone: impl Fn(&K) -> bool) {
        let mut entries = self.entries();
        let keys: Vec<K> = entries.map.keys().filter(|k| gone(k)).copied().collect();
        for key in keys {
            entries.remove(key);
        }
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> usize {
        self.entries().used
    }
}

impl FcsCache {
    /// Forgets every dataset of `file` (it was deleted).
    pub fn remove(&self, file: FileKey) {
        self.remove_where(|key| key.file == file);
    }
}

impl<K: Eq + Hash, V: Weighed> Entries<K, V> {
    fn remove(&mut self, key: K) {
        if let Some(old) = self.map.remove(&key) {
            self.used -= old.value.size_in_bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_fcs::FcsFile;

    fn data(events: usize) -> Arc<FcsData> {
        let params = [tessera_fcs::WriteParameter::new("A", 1024.0)];
        let no_keywords: [(&str, &str); 0] = [];
        let mut bytes = Vec::new();
        tessera_fcs::write_fcs31(&mut bytes, &params, &[vec![1.0; events]], &no_keywords).unwrap();
        Arc::new(FcsData::decode(&FcsFile::from_vec(bytes).unwrap(), 0).unwrap())
    }

    fn first(file: FileKey) -> DataKey {
        DataKey { file, dataset: 0 }
    }

    #[test]
    fn least_recently_used_entries_leave_first_and_oversized_ones_are_not_kept() {
        let cache = FcsCache::new(3 * 8 * 100);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        cache.insert(first(FileKey::Upload(a)), data(100));
        cache.insert(first(FileKey::Upload(b)), data(100));
        cache.insert(first(FileKey::Sample), data(100));
        assert!(cache.get(first(FileKey::Upload(a))).is_some()); // b is now the oldest
        cache.insert(first(FileKey::Upload(c)), data(100));
        assert!(cache.get(first(FileKey::Upload(b))).is_none());
        assert!(cache.get(first(FileKey::Upload(a))).is_some());
        assert_eq!(cache.used_bytes(), 3 * 800);
        cache.remove(FileKey::Upload(a));
        assert_eq!(cache.used_bytes(), 2 * 800);
        cache.insert(first(FileKey::Upload(a)), data(1000));
        assert!(cache.get(first(FileKey::Upload(a))).is_none());
        assert_eq!(cache.used_bytes(), 2 * 800);
    }
}
