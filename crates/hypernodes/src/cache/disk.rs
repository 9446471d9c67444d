//! A cache on local disk, one file per entry, needing no server.
//!
//! Entries are written to a temporary file and renamed into place, so a reader never sees a torn
//! entry, even when the writer is killed mid-write or several processes write at once (the same key
//! always holds the same content, so the last rename wins harmlessly). Each entry carries a checksum;
//! a corrupt or unreadable entry is a miss with a warning, then rewritten. Entries live in 256
//! subdirectories, so writing stays flat as the cache grows. Temporary files a killed writer left
//! behind are removed when a cache object first writes, once they are an hour old.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::{decode_all, encode_all, Cache, Key};
use crate::value::{Value, ValueType};
use crate::warn::warn;

const MAGIC: &[u8; 4] = b"HNC1";
const HEADER: usize = 4 + 32;
/// Entries at most this large are also kept in memory, up to `MEMORY_BUDGET` bytes in all.
const MEMORY_ENTRY_MAX: usize = 64 * 1024;
const MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// Temporary files older than this were left by a writer that was killed (see `remove_abandoned`).
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Recently used entries kept in memory, and their total size in bytes.
type Recent = (HashMap<Key, Arc<[u8]>>, usize);

/// A cache directory on local disk. Opened lazily where it is first used.
pub struct DiskCache {
    root: PathBuf,
    ready: OnceLock<Result<(), String>>,
    recent: Mutex<Recent>,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DiskCache {
    /// A cache stored under `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DiskCache {
            root: root.into(),
            ready: OnceLock::new(),
            recent: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// The cache directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Creates the directory, its `tmp/` and its 256 shard directories, once per object, and
    /// removes what killed writers left in `tmp/`.
    fn open(&self) -> Result<(), String> {
        self.ready
            .get_or_init(|| {
                let fail = |e: std::io::Error| {
                    format!("cannot create cache directory {}: {e}", self.root.display())
                };
                std::fs::create_dir_all(self.root.join("tmp")).map_err(fail)?;
                for shard in 0..=255u8 {
                    std::fs::create_dir_all(self.root.join(format!("{shard:02x}")))
                        .map_err(fail)?;
                }
                self.remove_abandoned();
                Ok(())
            })
            .clone()
    }

    /// Removes temporary files untouched for `ABANDONED_AFTER`: a writer renames its file into
    /// place within moments, so such a file is what a killed writer left behind (by age, not by
    /// process id, since other machines may share the directory). Best effort: errors are ignored.
    fn remove_abandoned(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > ABANDONED_AFTER);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn entry_path(&self, key: &Key) -> PathBuf {
        let hex = blake3::Hash::from_bytes(*key).to_hex();
        self.root.join(&hex[..2]).join(&hex[2..])
    }

    fn remember(&self, key: &Key, blob: Arc<[u8]>) {
        if blob.len() > MEMORY_ENTRY_MAX {
            return;
        }
        let mut recent = self.recent.lock().expect("cache memory poisoned");
        if recent.1 + blob.len() > MEMORY_BUDGET {
            recent.0.clear();
            recent.1 = 0;
        }
        recent.1 += blob.len();
        recent.0.insert(*key, blob);
    }

    fn read(&self, key: &Key) -> Option<Arc<[u8]>> {
        if let Some(b) = self
            .recent
            .lock()
            .expect("cache memory poisoned")
            .0
            .get(key)
        {
            return Some(b.clone());
        }
        let path = self.entry_path(key);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                warn(&format!(
                    "cache entry {} is unreadable ({e}); recomputing",
                    path.display()
                ));
                return None;
            }
        };
        if data.len() < HEADER
            || &data[..4] != MAGIC
            || blake3::hash(&data[HEADER..]).as_bytes() != &data[4..HEADER]
        {
            warn(&format!(
                "cache entry {} is corrupt; recomputing",
                path.display()
            ));
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let blob: Arc<[u8]> = Arc::from(&data[HEADER..]);
        self.remember(key, blob.clone());
        Some(blob)
    }

    fn write(&self, key: &Key, payload: &[u8]) -> Result<(), String> {
        self.open()?;
        let path = self.entry_path(key);
        let tmp = self.root.join("tmp").join(format!(
            "{}.{}.{}",
            blake3::Hash::from_bytes(*key).to_hex(),
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let io = |e: std::io::Error| format!("cannot write cache entry {}: {e}", path.display());
        // one write of header + payload, then an atomic rename into place
        let mut entry = Vec::with_capacity(HEADER + payload.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(blake3::hash(payload).as_bytes());
        entry.extend_from_slice(payload);
        std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&entry))
            .map_err(io)?;
        let renamed = std::fs::rename(&tmp, &path).or_else(|e| {
            // the shard directory was removed behind our back: make it again, once
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e);
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&tmp, &path)
        });
        renamed.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })?;
        self.remember(key, Arc::from(payload));
        Ok(())
    }
}

impl Cache for DiskCache {
    fn get(&self, key: &Key, types: &[Arc<dyn ValueType>]) -> Option<Vec<Value>> {
        let blob = self.read(key)?;
        match decode_all(&blob, types) {
            Ok(v) => Some(v),
            Err(e) => {
                warn(&format!(
                    "cache entry {} cannot be decoded ({e}); recomputing",
                    self.entry_path(key).display()
                ));
                self.recent
                    .lock()
                    .expect("cache memory poisoned")
                    .0
                    .remove(key);
                None
            }
        }
    }

    fn put(&self, key: &Key, values: &[Value], types: &[Arc<dyn ValueType>]) -> Result<(), String> {
        let payload = encode_all(values, types)?;
        self.write(key, &payload)
    }
}
