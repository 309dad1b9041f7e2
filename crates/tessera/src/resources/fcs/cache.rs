//! Decoded files kept between requests, within a memory budget.
//!
//! Decoding a file costs a full pass over it and statistics another; clients page through events
//! and ask for statistics repeatedly, so both are kept ([`FcsData`] holds its statistics once
//! computed). The budget counts the decoded `f64` columns, which dwarf everything else; when a new
//! file does not fit, the least recently used files go first. A file larger than the whole budget
//! is served but not kept. Deleting a file evicts it.
//!
//! The cache is per instance and only an accelerator: every instance can rebuild any entry from
//! object storage, so correctness never depends on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

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

/// The cache; see the module docs.
#[derive(Debug)]
pub struct FcsCache {
    budget: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<DataKey, Entry>,
    used: usize,
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    data: Arc<FcsData>,
    last_used: u64,
}

impl FcsCache {
    /// A cache holding at most `budget` bytes of decoded columns.
    pub fn new(budget: usize) -> Self {
        FcsCache {
            budget,
            inner: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is one
        // statement), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `key`, marked as just used.
    pub fn get(&self, key: DataKey) -> Option<Arc<FcsData>> {
        let mut entries = self.entries();
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.map.get_mut(&key)?;
        entry.last_used = now;
        Some(entry.data.clone())
    }

    /// Keeps `data` under `key`, evicting least recently used entries until it fits.
    pub fn insert(&self, key: DataKey, data: Arc<FcsData>) {
        let size = data.size_in_bytes();
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
        entries.map.insert(key, Entry { data, last_used });
    }

    /// Forgets every dataset of `file` (it was deleted).
    pub fn remove(&self, file: FileKey) {
        let mut entries = self.entries();
        let keys: Vec<DataKey> = entries
            .map
            .keys()
            .filter(|k| k.file == file)
            .copied()
            .collect();
        for key in keys {
            entries.remove(key);
        }
    }

    /// Bytes of decoded columns held.
    pub fn used_bytes(&self) -> usize {
        self.entries().used
    }
}

impl Entries {
    fn remove(&mut self, key: DataKey) {
        if let Some(old) = self.map.remove(&key) {
            self.used -= old.data.size_in_bytes();
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
