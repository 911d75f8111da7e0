//! Where segments live: a directory (`file:///...`) or an S3-compatible bucket
//! (`s3://bucket/prefix`, credentials, region and endpoint from the usual `AWS_*`
//! variables), through the `object_store` crate.
//!
//! The store's reads run on plain threads (the writer, the reader pool), so the
//! archive's async client runs on a runtime of its own and is waited for over a
//! channel; decoded segments are kept in a small cache shared by the process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use object_store::ObjectStore;
use object_store::path::Path;

use super::segment;
use crate::event::RecordedEvent;

/// Decoded segments kept in memory (a segment is up to a few tens of MB decoded).
const CACHED_SEGMENTS: usize = 4;

/// Decoded segments by `location/object#sha256`, the latest read first.
type SegmentCache = VecDeque<(String, Arc<Vec<RecordedEvent>>)>;

/// An archive location, parsed and opened.
pub(crate) struct Remote {
    /// The location as given (`file:///var/gesta/archive`, `s3://bucket/prefix`).
    pub(crate) url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// A location that does not parse or cannot be opened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("archive {url}: {message}")]
pub struct ArchiveError {
    /// The location.
    pub url: String,
    /// What went wrong.
    pub message: String,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gesta-archive")
            .enable_all()
            .build()
            .expect("the archive's runtime starts")
    })
}

/// Runs `work` on the archive's runtime and waits for it from any thread.
fn block<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime().spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv()
        .map_err(|_| "the archive's runtime stopped".to_owned())
}

impl Remote {
    /// The opened location `url` (shared: opened once per process).
    pub(crate) fn open(url: &str) -> Result<Arc<Remote>, ArchiveError> {
        static OPEN: OnceLock<Mutex<HashMap<String, Arc<Remote>>>> = OnceLock::new();
        let open = OPEN.get_or_init(Default::default);
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(remote) = open.get(url) {
            return Ok(Arc::clone(remote));
        }
        let remote = Arc::new(Remote::connect(url)?);
        open.insert(url.to_owned(), Arc::clone(&remote));
        Ok(remote)
    }

    fn connect(url: &str) -> Result<Remote, ArchiveError> {
        let fail = |message: String| ArchiveError {
            url: url.to_owned(),
            message,
        };
        if let Some(dir) = url.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(fail(
                    "a file:// location is an absolute path (file:///var/gesta/archive)".into(),
                ));
            }
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| fail(e.to_string()))?;
            return Ok(Remote {
                url: url.to_owned(),
                store: Arc::new(store),
                prefix: Path::default(),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(fail(
                    "an s3:// location names a bucket (s3://bucket/prefix)".into(),
                ));
            }
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| fail(e.to_string()))?;
            return Ok(Remote {
                url: url.to_owned(),
                store: Arc::new(store),
                prefix: Path::from(prefix.trim_matches('/')),
            });
        }
        Err(fail(
            "an archive is a directory (file:///path) or a bucket (s3://bucket/prefix)".into(),
        ))
    }

    fn path(&self, name: &str) -> Path {
        self.prefix.child(name)
    }

    /// Writes object `name`.
    pub(crate) fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), String> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        block(async move { store.put(&path, bytes.into()).await.map(drop) })?
            .map_err(|e| format!("{}: writing {name}: {e}", self.url))
    }

    /// Reads object `name` whole.
    pub(crate) fn get(&self, name: &str) -> Result<Vec<u8>, String> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        block(async move {
            let got = store.get(&path).await?;
            got.bytes().await
        })?
        .map(|b| b.to_vec())
        .map_err(|e| format!("{}: reading {name}: {e}", self.url))
    }

    /// The events of segment object `name`, checked against `sha256` when fetched,
    /// from the process's cache when it was read lately.
    pub(crate) fn segment(
        &self,
        name: &str,
        sha256: &str,
    ) -> Result<Arc<Vec<RecordedEvent>>, String> {
        static CACHE: OnceLock<Mutex<SegmentCache>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let key = format!("{}/{name}#{sha256}", self.url);
        {
            let cached = cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, events)) = cached.iter().find(|(k, _)| *k == key) {
                return Ok(Arc::clone(events));
            }
        }
        let bytes = self.get(name)?;
        let actual = segment::checksum(&bytes);
        if actual != sha256 {
            return Err(format!(
                "{}: segment {name} has checksum {actual}, the manifest says {sha256}",
                self.url
            ));
        }
        let events = Arc::new(
            segment::decode(&bytes).map_err(|e| format!("{}: segment {name}: {e}", self.url))?,
        );
        let mut cached = cache.lock().unwrap_or_else(|e| e.into_inner());
        cached.push_front((key, Arc::clone(&events)));
        cached.truncate(CACHED_SEGMENTS);
        Ok(events)
    }
}
