//! Where uploaded FCS files live: an `object_store` store, today a directory on local disk
//! (`<data dir>/uploads`). Handlers only see keys and this module's few operations, so moving
//! uploads to S3-compatible storage means building a different store here, not touching them.
//!
//! Uploads stream in through [`Storage::begin`] (a multipart upload: chunks are written as they
//! arrive, the object appears only when it completes, and an abandoned upload removes its staging
//! file). Files are read back by memory-mapping when the store is local, else downloaded.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tessera_fcs::{FcsError, FcsFile};

/// Bytes buffered before a part is handed to the store: bounds memory per upload.
const PART_BYTES: usize = 1 << 20;

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
