//! Where uploaded FCS files live: an `object_store` store, today a directory on local disk
//! (`<data dir>/uploads`). Handlers only see keys and this module's few operations, so moving
//! uploads to S3-compatible storage means building a different store here, not touching them.
//!
//! Uploads stream in through [`Storage::begin`] (a multipart upload: chunks are written as they
//! arrive, the object appears only when it completes) under a `staging/` key held by a
//! [`PendingObject`], which deletes it on every way out but success — an error, a timeout, a
//! client that leaves. What a crash leaves in `staging/` is swept when the store is next opened
//! ([`Storage::sweep_staging`]). Files are read back by memory-mapping when the store is local,
//! else downloaded.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tessera_fcs::{FcsError, FcsFile};

/// Bytes buffered before a part is handed to the store: bounds memory per upload.
const PART_BYTES: usize = 1 << 20;

/// Where uploads are received before the engine has accepted them.
pub const STAGING: &str = "staging";

/// The upload store.
#[derive(Clone, Debug)]
pub struct Storage {
    objects: Arc<dyn ObjectStore>,
    /// Set when `objects` is a local directory: files are then opened (mapped) in place.
    local: Option<Arc<LocalFileSystem>>,
}

impl Storage {
    /// A store in the directory `root`, created if missing. Writes are fsynced: an upload that
    /// was answered 201 survives a crash, as its database row does.
    pub fn local(root: &FsPath) -> anyhow::Result<Storage> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let local = Arc::new(
            LocalFileSystem::new_with_prefix(root)
                .with_context(|| format!("opening {}", root.display()))?
                .with_automatic_cleanup(true)
                .with_fsync(true),
        );
        Ok(Storage {
            objects: local.clone(),
            local: Some(local),
        })
    }

    /// Starts writing `key`; the object exists only once the writer finishes.
    pub async fn begin(&self, key: &str) -> object_store::Result<WriteMultipart> {
        let upload = self.objects.put_multipart(&Path::from(key)).await?;
        Ok(WriteMultipart::new_with_chunk_size(upload, PART_BYTES))
    }

    /// Moves an object (after validation, from its temporary key to its final one).
    pub async fn rename(&self, from: &str, to: &str) -> object_store::Result<()> {
        self.objects
            .rename(&Path::from(from), &Path::from(to))
            .await
    }

    /// Deletes an object; a missing one is not an error (deleting twice is harmless).
    pub async fn delete(&self, key: &str) -> object_store::Result<()> {
        match self.objects.delete(&Path::from(key)).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// Deletes an object after a failure, logging (not returning) a failure to do so: the caller
    /// is already answering with the original error.
    pub async fn discard(&self, key: &str) {
        if let Err(error) = self.delete(key).await {
            tracing::warn!(%error, key, "could not delete an FCS object");
        }
    }

    /// Deletes `key` now, from a destructor: on the local disk at once (so nothing is left once
    /// the request has ended, even at shutdown), including the part file of an unfinished
    /// multipart upload (`<key>#<n>`, which `object_store` itself removes only later, from a
    /// background task); elsewhere from a spawned task.
    fn delete_now(&self, key: &str) {
        match &self.local {
            Some(local) => match local.path_to_filesystem(&Path::from(key)) {
                Ok(path) => remove_with_parts(&path),
                Err(error) => tracing::warn!(%error, key, "could not delete an FCS object"),
            },
            None => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let (storage, key) = (self.clone(), key.to_owned());
                    runtime.spawn(async move { storage.discard(&key).await });
                }
            }
        }
    }

    /// Deletes what is older than `max_age` under `staging/`: uploads cut off by a crash (finished
    /// or not). Younger ones may belong to uploads still running. Blocking.
    pub fn sweep_staging(&self, max_age: Duration) {
        // Only the local store exists today; a remote one would list `staging/` here (and leave
        // unfinished multipart uploads to the bucket's lifecycle rule).
        let Some(local) = &self.local else { return };
        let Ok(dir) = local.path_to_filesystem(&Path::from(STAGING)) else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return; // no staging directory yet: nothing to sweep
        };
        let cutoff = SystemTime::now()
            .checked_sub(max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut swept = 0;
        for entry in entries.flatten() {
            let modified = entry.metadata().and_then(|m| m.modified());
            if modified.is_ok_and(|at| at < cutoff) && std::fs::remove_file(entry.path()).is_ok() {
                swept += 1;
            }
        }
        if swept > 0 {
            tracing::info!(
                swept,
                "deleted FCS uploads left in staging by an earlier run"
            );
        }
    }

    /// The bytes stored at `key`, as a stream, with their length.
    pub async fn read(&self, key: &str) -> Result<(u64, ByteStream), FcsError> {
        let object = self
            .objects
            .get(&Path::from(key))
            .await
            .map_err(|e| io_error(key, e))?;
        let size = object.meta.size;
        let key = key.to_owned();
        let stream = object
            .into_stream()
            .map_err(move |e| std::io::Error::other(format!("reading {key}: {e}")));
        Ok((size, Box::pin(stream)))
    }

    /// Opens the FCS file stored at `key`. Parsing is blocking work and runs on the blocking pool.
    pub async fn open(&self, key: &str) -> Result<FcsFile, FcsError> {
        let location = Path::from(key);
        if let Some(local) = &self.local {
            let path = local
                .path_to_filesystem(&location)
                .map_err(|e| io_error(key, e))?;
            return open_blocking(path).await;
        }
        let bytes = async { self.objects.get(&location).await?.bytes().await }
            .await
            .map_err(|e| io_error(key, e))?;
        run_blocking(move || FcsFile::from_vec(bytes.to_vec())).await
    }
}

/// A file's bytes, read as they are sent.
pub type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> + Send>>;

/// The bytes of the local file `path`, as a stream, with their length.
pub async fn read_local(path: &FsPath) -> Result<(u64, ByteStream), FcsError> {
    let error = |source| FcsError::Io {
        path: path.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(error)?;
    let size = file.metadata().await.map_err(error)?.len();
    Ok((size, Box::pin(tokio_util::io::ReaderStream::new(file))))
}

/// Removes `path` and the part files `<path>#<n>` beside it; a missing file is not an error.
fn remove_with_parts(path: &FsPath) {
    let remove = |path: &FsPath| match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(%error, path = %path.display(), "could not delete an FCS object");
        }
        _ => {}
    };
    remove(path);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let part_prefix = format!("{}#", name.to_string_lossy());
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&part_prefix)
        {
            remove(&entry.path());
        }
    }
}

/// An object that users cannot see yet (no row points at it): deleted when dropped, unless
/// [`kept`](Self::keep). Holding one is what makes every failure path clean up.
#[derive(Debug)]
pub struct PendingObject {
    storage: Storage,
    key: String,
    kept: bool,
}

impl PendingObject {
    /// Takes charge of `key` (which may not exist yet: it is being written).
    pub fn new(storage: &Storage, key: String) -> Self {
        PendingObject {
            storage: storage.clone(),
            key,
            kept: false,
        }
    }

    /// Where the object is.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Moves the object to `to`, still pending there. On failure the object is deleted.
    pub async fn rename(self, to: &str) -> object_store::Result<PendingObject> {
        self.storage.rename(&self.key, to).await?;
        let moved = PendingObject::new(&self.storage, to.to_owned());
        self.keep();
        Ok(moved)
    }

    /// The object is visible now (or moved on): keep it.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for PendingObject {
    fn drop(&mut self) {
        if !self.kept {
            self.storage.delete_now(&self.key);
        }
    }
}

/// Opens a file from disk on the blocking pool (memory-mapped when large).
pub async fn open_blocking(path: PathBuf) -> Result<FcsFile, FcsError> {
    run_blocking(move || FcsFile::open(path)).await
}

/// Runs engine work on the blocking pool, so parsing never stalls the async workers.
pub async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FcsError> + Send + 'static,
) -> Result<T, FcsError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| Err(io_error("(blocking task)", join)))
}

fn io_error(what: &str, error: impl std::error::Error + Send + Sync + 'static) -> FcsError {
    FcsError::Io {
        path: PathBuf::from(what),
        source: std::io::Error::other(error),
    }
}
