//! A cache on local disk, needing no server: an index in an embedded database (SQLite in WAL mode)
//! with small payloads inline, and large payloads as content-addressed files beside it.
//!
//! Layout of a cache directory:
//! ```text
//! index.sqlite (+ -wal, -shm)   one row per entry: key, content hash, tag, size, inline payload
//! keys-v1                       where each key's row is: a hash table file (see `keymap`)
//! blobs/<2 hex>/<62 hex>        payloads above 64 KiB, named by the BLAKE3 hash of their bytes
//! hot-v1                        a copy of the rows last used, read by a fresh process (see `hot`)
//! tmp/                          blob, hot and key table files being written (unpredictable names)
//! ```
//! Writes are grouped: a finished entry waits at most [`flusher::WINDOW`] before the transaction
//! that commits it starts, and every root run or map commits what it wrote before it returns. A
//! reader never sees a torn entry; each entry is checked on read against its content hash and its
//! tag (a hash, or with a secret a keyed MAC, of its own key and content), so a corrupt entry, an
//! entry copied over another key, or (signed) a forged one is refused with a warning and recomputed.

mod blobs;
mod flusher;
mod fork;
mod hot;
mod index;
mod keymap;
mod readers;
mod trust;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use rusqlite::Connection;

pub use flusher::{flush_all, flush_all_at_exit};
pub(super) use trust::SECRET_ENV;

use super::{decode_all, decode_all_owned, encode_all_into, Cache, Key};
use crate::value::{Value, ValueType};
use crate::warn::{warn, warn_once};

/// Payloads above this size go to blob files; smaller ones are stored in the index.
pub(super) const INLINE_MAX: usize = 64 * 1024;
/// Entries at most this large are also kept in memory, up to `MEMORY_BUDGET` bytes in all.
const MEMORY_ENTRY_MAX: usize = 64 * 1024;
const MEMORY_BUDGET: usize = 64 * 1024 * 1024;
/// A batch this large is committed at once rather than after the window.
const BATCH_FULL: usize = 4096;
/// At most this many entries are kept decoded.
const DECODED_MAX: usize = 65536;
/// With this many entries pending, the writer commits itself (the commit thread is behind).
const BATCH_BACKLOG: usize = 65536;
/// The commit thread checkpoints the write-ahead log after this many committed rows (fewer,
/// larger checkpoints: a page dirtied by several batches is copied and synced once; at a million
/// entries, with random keys, this is about 64 MiB of log).
const CHECKPOINT_EVERY: usize = 16384;
/// Without a size limit, a use refreshes an entry's access time only when it is older than this.
const TOUCH_AFTER: f64 = 3600.0;
/// How long writing the hot file at exit waits for the index's write lock (then it is skipped).
const HOT_PATIENCE: Duration = Duration::from_millis(200);
/// Temporary and blob files younger than this may belong to a writer still at work.
const IN_FLIGHT: Duration = Duration::from_secs(3600);

/// What [`DiskCache::stats`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries in the cache (committed, all processes).
    pub entries: u64,
    /// Bytes of payload in the cache (inline and in files).
    pub bytes: u64,
    /// Lookups this object answered from the cache.
    pub hits: u64,
    /// Lookups this object could not answer (absent or refused entries).
    pub misses: u64,
}

/// What [`DiskCache::prune`] removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneReport {
    /// Entries not used within the age given.
    pub entries: u64,
    /// Blob and temporary files no entry names (left by killed writers).
    pub files: u64,
}

/// A cache directory on local disk. Opened lazily where it is first used; any number of threads
/// and processes may share one directory.
///
/// Values are stored with serde: register your own types once with
/// [`register_cacheable`](crate::register_cacheable) (common types are registered already).
///
/// ```
/// use std::sync::Arc;
/// use hypernodes::{inputs, node, register_cacheable, DiskCache, Pipeline, Setting};
///
/// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Stats {
///     lines: usize,
///     words: usize,
/// }
///
/// #[node(output = "stats")]
/// fn stats(text: String) -> Stats {
///     Stats { lines: text.lines().count(), words: text.split_whitespace().count() }
/// }
///
/// register_cacheable::<Stats>();
/// let dir = std::env::temp_dir().join(format!("hn-doc-disk-cache-{}", std::process::id()));
/// let p = Pipeline::new([stats::node()])?;
/// let text = "a b\nc".to_string();
/// let first = p
///     .with_cache(Setting::On(Arc::new(DiskCache::new(&dir))))
///     .run(inputs! {"text" => text.clone()}, None)?;
/// // another cache object on the same directory (another process would do the same) reads it back
/// let cache = Arc::new(DiskCache::new(&dir));
/// let again = p.with_cache(Setting::On(cache.clone())).run(inputs! {"text" => text}, None)?;
/// assert_eq!(again.get::<Stats>("stats"), Some(&Stats { lines: 2, words: 3 }));
/// assert_eq!(again.get::<Stats>("stats"), first.get::<Stats>("stats"));
/// assert_eq!(cache.stats()?.hits, 1);
/// # drop(cache);
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DiskCache {
    store: Arc<Store>,
}

/// The writer connection with the identity of the index file it opened.
struct Writer {
    conn: Connection,
    file_id: Option<blobs::Identity>,
}

/// An entry this object wrote that is not committed yet.
struct Unsaved {
    sum: [u8; 32],
    tag: [u8; 32],
    size: u64,
    inline: Option<Arc<[u8]>>,
}

/// A row being committed: its payload hash and inline payload (`None`: in its blob file).
type Committing = ([u8; 32], Option<Arc<[u8]>>);

/// Recently read or written small payloads, and their total size in bytes.
type Recent = (HashMap<Key, Arc<[u8]>>, usize);

#[derive(Default)]
struct Pending {
    rows: HashMap<Key, Unsaved>,
    /// Rows being committed (still readable from here until their commit ends).
    committing: HashMap<Key, Committing>,
    bad: Vec<(Key, Vec<u8>)>,
    used: HashSet<Key>,
    /// Uses of entries served from the hot file: committed with the next batch or at exit, never
    /// on their own at the end of a run (that would open the index, which the hot file avoids).
    deferred: HashSet<Key>,
    since: Option<Instant>,
}

/// The hot file as this object read it: `None` before the first lookup that needs it; then the
/// file, or `None` when there is none or it was found bad.
type HotState = Option<Option<Arc<hot::View>>>;

struct Store {
    root: PathBuf,
    size_limit: Option<u64>,
    signer: trust::Signer,
    /// The secret given to `with_secret` (not one from the environment), to ship the configuration.
    secret: Option<Vec<u8>>,
    writer: Mutex<Option<Writer>>,
    recent: Mutex<Recent>,
    /// Small entries whose values may be shared (see `ValueType::shareable`), kept decoded.
    decoded: Mutex<HashMap<Key, Vec<Value>>>,
    pending: Mutex<Pending>,
    registered: Once,
    registered_at_exit: Once,
    hits: AtomicU64,
    misses: AtomicU64,
    write_failed: AtomicBool,
    /// Set once the index was opened for writing (later commits reopen it when it was deleted).
    opened: AtomicBool,
    /// Rows committed since the last checkpoint, and the connection that checkpoints.
    uncheckpointed: std::sync::atomic::AtomicUsize,
    checkpointer: Mutex<Option<Connection>>,
    /// The process that opened the connections (0: none yet); a forked child opens its own.
    owner: AtomicU64,
    hot: Mutex<HotState>,
    /// The entries this object used (first use, unix seconds), for the hot file it writes.
    seen: Mutex<HashMap<Key, f64>>,
    /// Set when this object used entries the hot file may not hold (it is rewritten at exit).
    hot_dirty: AtomicBool,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn hex(key: &Key) -> String {
    blake3::Hash::from_bytes(*key).to_hex().to_string()
}

/// The identity of the file at `path` (through a symlink), if there is one.
fn file_id(path: &Path) -> Option<blobs::Identity> {
    std::fs::metadata(path).ok().map(|m| blobs::identity(&m))
}

impl DiskCache {
    /// A cache stored under `path`, made absolute now (so a later change of the working directory,
    /// or a worker process, uses the same directory). Created on first use. Entries are signed
    /// with the secret in `HYPERNODES_CACHE_SECRET` when that variable is set.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let root = std::path::absolute(&path).unwrap_or(path);
        let secret = std::env::var_os(SECRET_ENV).filter(|s| !s.is_empty());
        DiskCache {
            store: Arc::new(Store {
                root,
                size_limit: None,
                signer: trust::Signer::new(secret.as_ref().map(|s| s.as_encoded_bytes())),
                secret: None,
                writer: Mutex::new(None),
                recent: Mutex::new((HashMap::new(), 0)),
                decoded: Mutex::new(HashMap::new()),
                pending: Mutex::new(Pending::default()),
                registered: Once::new(),
                registered_at_exit: Once::new(),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                write_failed: AtomicBool::new(false),
                opened: AtomicBool::new(false),
                owner: AtomicU64::new(0),
                uncheckpointed: std::sync::atomic::AtomicUsize::new(0),
                checkpointer: Mutex::new(None),
                hot: Mutex::new(None),
                seen: Mutex::new(HashMap::new()),
                hot_dirty: AtomicBool::new(false),
            }),
        }
    }

    fn configure(mut self, f: impl FnOnce(&mut Store)) -> Self {
        f(Arc::get_mut(&mut self.store).expect("a new DiskCache is not shared yet"));
        self
    }

    /// Keeps the payloads under `bytes` in all, evicting the least recently used entries.
    pub fn with_size_limit(self, bytes: u64) -> Self {
        self.configure(|s| s.size_limit = Some(bytes))
    }

    /// Signs every entry with a keyed BLAKE3 MAC derived from `secret`, and refuses (with a
    /// warning) every entry without a valid signature.
    pub fn with_secret(self, secret: impl AsRef<[u8]>) -> Self {
        self.configure(|s| {
            s.signer = trust::Signer::new(Some(secret.as_ref()));
            s.secret = Some(secret.as_ref().to_vec());
        })
    }

    /// The secret given to [`DiskCache::with_secret`], if any (to ship this cache's configuration
    /// to another process; a secret from `HYPERNODES_CACHE_SECRET` is not returned).
    pub fn secret(&self) -> Option<&[u8]> {
        self.store.secret.as_deref()
    }

    /// The cache directory (absolute).
    pub fn path(&self) -> &Path {
        &self.store.root
    }

    /// The size limit in bytes, if any.
    pub fn size_limit(&self) -> Option<u64> {
        self.store.size_limit
    }

    /// Whether entries are signed with a secret.
    pub fn is_signed(&self) -> bool {
        self.store.signer.signed()
    }

    /// Refuses a directory that other users may write into and that this user does not own,
    /// unless entries are signed or `HYPERNODES_CACHE_TRUST_SHARED=1`. Fronts call it when a cache
    /// is created; it is checked again when the cache is opened.
    pub fn check_trust(&self) -> Result<(), String> {
        trust::check_directory(&self.store.root, self.is_signed())
    }

    /// Commits the writes still pending in this object.
    pub fn flush(&self) {
        self.store.commit_all();
    }

    /// The number of entries (after committing this object's pending writes).
    pub fn len(&self) -> Result<u64, String> {
        Ok(self.stats()?.entries)
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> Result<bool, String> {
        Ok(self.len()? == 0)
    }

    /// Entries and bytes in the cache, and this object's hits and misses.
    pub fn stats(&self) -> Result<CacheStats, String> {
        let s = &self.store;
        let (entries, bytes) = if index::index_path(&s.root).exists() {
            s.commit_all();
            s.with_writer(|conn| index::totals(conn))?
        } else {
            (0, 0)
        };
        Ok(CacheStats {
            entries,
            bytes,
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
        })
    }

    /// Removes every entry (of every process), the blob and temporary files no writer is still
    /// writing, and the entries of the earlier one-file-per-entry layout. Returns the number of
    /// entries removed.
    pub fn clear(&self) -> Result<u64, String> {
        let s = &self.store;
        {
            let mut p = locked(&s.pending);
            p.rows.clear();
            p.bad.clear();
            p.used.clear();
            p.deferred.clear();
            p.since = None;
        }
        *locked(&s.recent) = (HashMap::new(), 0);
        locked(&s.decoded).clear();
        // (the hot file is removed inside the clearing transaction; this object forgets it too)
        *locked(&s.hot) = Some(None);
        locked(&s.seen).clear();
        s.hot_dirty.store(false, Ordering::Relaxed);
        let n = s.with_writer(|conn| index::clear(conn, &s.root))?;
        remove_old_files(&s.root.join(blobs::TMP), IN_FLIGHT);
        for dir in legacy_shards(&s.root) {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(n)
    }

    /// Removes the entries not used for `older_than`, and the files killed writers left behind.
    pub fn prune(&self, older_than: Duration) -> Result<PruneReport, String> {
        let s = &self.store;
        s.commit_all();
        let before = index::now() - older_than.as_secs_f64();
        let (entries, files) =
            s.with_writer(|conn| index::prune(conn, &s.root, before, IN_FLIGHT))?;
        let tmp = remove_old_files(&s.root.join(blobs::TMP), IN_FLIGHT);
        Ok(PruneReport {
            entries,
            files: files + tmp,
        })
    }
}

impl Drop for DiskCache {
    /// The last handle is gone: commit everything and write the hot file now (the store itself
    /// may live a moment longer on the commit thread).
    fn drop(&mut self) {
        self.store.commit_all();
        self.store.write_hot();
    }
}

/// Removes the files in `dir` older than `age`; returns how many.
fn remove_old_files(dir: &Path, age: Duration) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a >= age);
        if old && std::fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// The shard directories (`00`…`ff`) of the one-file-per-entry layout of earlier versions.
fn legacy_shards(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == 2
                && name.bytes().all(|b| b.is_ascii_hexdigit())
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect()
}

/// Keeps the most recent half of the entries used when they reach twice what a hot file holds.
fn trim_seen(seen: &mut HashMap<Key, f64>) {
    if seen.len() > 2 * hot::MAX_ENTRIES {
        let mut by_time: Vec<(Key, f64)> = seen.drain().collect();
        by_time.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        seen.extend(by_time.into_iter().take(hot::MAX_ENTRIES));
    }
}

/// A payload as read: shared with the in-memory copy (small ones) or owned (large ones, which are
/// not kept in memory and so are not copied again).
enum Payload {
    Shared(Arc<[u8]>),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Payload::Shared(b) => b,
            Payload::Owned(v) => v,
        }
    }
}

/// Why an entry read from the index is refused.
enum Refused {
    /// Its blob file is gone (an index row naming it is corrupt; a hot record, stale).
    Gone,
    Corrupt(String),
    Unreadable(String),
    Foreign,
}

impl Store {
    /// Creates the directory and opens a connection to the index, after the trust check.
    fn connect(&self) -> Result<Connection, String> {
        trust::check_directory(&self.root, self.signer.signed())?;
        std::fs::create_dir_all(&self.root)
            .map_err(|e| format!("cannot create cache directory {}: {e}", self.root.display()))?;
        let conn = index::open(&self.root)
            .map_err(|e| format!("cannot open cache index in {}: {e}", self.root.display()))?;
        Ok(conn)
    }

    /// A connection for lookups to the existing index, after the trust check: without the
    /// writer's setup when the index is at this version's schema (see `index::open_reader`).
    fn connect_reader(&self) -> Result<Connection, String> {
        trust::check_directory(&self.root, self.signer.signed())?;
        match index::open_reader(&self.root) {
            Ok(Some(conn)) => Ok(conn),
            Ok(None) => self.connect(),
            Err(e) => Err(format!(
                "cannot open cache index in {}: {e}",
                self.root.display()
            )),
        }
    }

    /// Runs `f` with the writer connection, (re)opening it when absent or when the index file was
    /// removed or replaced since it was opened (a deleted cache directory is recreated).
    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let mut writer = locked(&self.writer);
        self.writer_ready(&mut writer)?;
        let w = writer.as_mut().expect("opened above");
        f(&mut w.conn).map_err(|e| format!("cache index {}: {e}", self.root.display()))
    }

    /// In a process forked from the one that opened the connections, leaves them alone (SQLite
    /// connections must not cross a fork; closing them here could disturb the parent's locks).
    fn drop_inherited(&self, writer: &mut Option<Writer>) {
        let me = fork::epoch();
        let before = self.owner.swap(me, Ordering::Relaxed);
        if before != 0 && before != me {
            if let Some(w) = writer.take() {
                std::mem::forget(w);
            }
        }
    }

    fn writer_ready(&self, writer: &mut Option<Writer>) -> Result<(), String> {
        self.drop_inherited(writer);
        let path = index::index_path(&self.root);
        let current = file_id(&path);
        let stale = match writer {
            Some(w) => current.is_none() || w.file_id != current,
            None => true,
        };
        if stale {
            if writer.take().is_some() {
                // the directory or index was deleted or replaced: readers reopen too
                self.forget_readers();
                *locked(&self.checkpointer) = None;
            }
            let conn = self.connect()?;
            *writer = Some(Writer {
                conn,
                file_id: file_id(&path),
            });
        }
        Ok(())
    }

    /// Drops this process's pooled reader connections and key map for the directory (its index was
    /// deleted or replaced: they are opened anew on next use).
    fn forget_readers(&self) {
        readers::invalidate(&self.root);
        keymap::forget(&self.root);
    }

    /// Runs `f` with a reader connection (from the process's pool for this directory), in a read
    /// transaction at most `readers::SPAN` old.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<rusqlite::Result<T>, String> {
        let (pooled, generation) = readers::take(&self.root);
        let mut reader = match pooled {
            Some(r) => r,
            None => {
                if !index::index_path(&self.root).exists() {
                    return Err("no index".into());
                }
                // (no listing of the directory for the earlier layout here: that is done when this
                // object first writes, which a process meeting that layout does, its entries
                // being ignored)
                readers::Reader::new(self.connect_reader()?)
            }
        };
        let out = reader.fresh().and_then(f);
        if out.is_err() {
            reader.end();
        }
        readers::give_back(&self.root, reader, generation);
        Ok(out)
    }

    fn remember(&self, key: &Key, blob: &Arc<[u8]>) {
        if blob.len() > MEMORY_ENTRY_MAX {
            return;
        }
        let mut recent = locked(&self.recent);
        if recent.1 + blob.len() > MEMORY_BUDGET {
            recent.0.clear();
            recent.1 = 0;
        }
        recent.1 += blob.len();
        recent.0.insert(*key, blob.clone());
    }

    /// Keeps `values` decoded when every one of them may be shared.
    fn keep_decoded(&self, key: &Key, values: &[Value], types: &[Arc<dyn ValueType>]) {
        if !values.iter().zip(types).all(|(v, t)| t.shareable(v)) {
            return;
        }
        let mut d = locked(&self.decoded);
        if d.len() >= DECODED_MAX {
            d.clear();
        }
        d.insert(*key, values.to_vec());
    }

    fn forget(&self, key: &Key) {
        locked(&self.decoded).remove(key);
        let mut recent = locked(&self.recent);
        if let Some(b) = recent.0.remove(key) {
            recent.1 -= b.len();
        }
    }

    /// Records a use of `key` (committed with the next batch) for LRU eviction and pruning.
    fn touch(&self, key: &Key) {
        self.enqueue(|p| {
            p.used.insert(*key);
        });
    }

    /// Changes the pending batch and wakes the commit thread when the batch starts or fills up.
    fn enqueue(&self, change: impl FnOnce(&mut Pending)) {
        let (started, full, backlog) = {
            let mut p = locked(&self.pending);
            change(&mut p);
            let started = p.since.is_none();
            if started {
                p.since = Some(Instant::now());
            }
            let n = p.rows.len() + p.used.len();
            (started, n == BATCH_FULL, n >= BATCH_BACKLOG)
        };
        if backlog {
            self.commit();
        } else if started || full {
            flusher::wake();
        }
    }

    /// Reads and checks the payload stored under `key`; `None` on a miss (warned when refused).
    /// Looks in this object's memory, its pending writes, the hot file, then the index.
    fn read(self: &Arc<Self>, key: &Key) -> Option<Payload> {
        if let Some(b) = locked(&self.recent).0.get(key).cloned() {
            if self.size_limit.is_some() {
                self.touch(key);
            }
            return Some(Payload::Shared(b));
        }
        let unsaved = {
            let p = locked(&self.pending);
            match p.rows.get(key) {
                Some(u) => Some((u.sum, u.inline.clone())),
                None => p.committing.get(key).cloned(),
            }
        };
        if let Some((sum, inline)) = unsaved {
            return match inline {
                Some(b) => Some(Payload::Shared(b)),
                None => blobs::read(&self.root, &sum).ok().map(Payload::Owned),
            };
        }
        let hot_refused = match self.read_hot(key) {
            Ok(Some(payload)) => return Some(payload),
            Ok(None) => None,
            Err(why) => Some(why),
        };
        let (payload, warned) = self.read_index(key);
        if let Some(why) = hot_refused {
            // the rest of the file is not trusted either: the index is read, and the file is
            // rewritten at exit
            *locked(&self.hot) = Some(None);
            self.mark_dirty();
            if !warned {
                let root = self.root.display();
                warn_once(
                    "cache hot file",
                    &format!(
                        "cache {root}: its hot file {} holds an entry that fails its check \
                         ({why}: corrupt, forged, or written with another secret); the file is \
                         ignored and the index read instead",
                        hot::path(&self.root).display()
                    ),
                );
            }
        }
        payload
    }

    /// The hot file of this directory, read at this object's first lookup that needs it (after
    /// the trust check, as before any open); `None` when there is none or it is not usable.
    fn hot_view(self: &Arc<Self>) -> Option<Arc<hot::View>> {
        let mut state = locked(&self.hot);
        if let Some(view) = state.as_ref() {
            return view.clone();
        }
        let (view, invalid) = if trust::check_directory(&self.root, self.signer.signed()).is_err() {
            (None, None)
        } else {
            match hot::load(&self.root) {
                Ok(v) => (Some(Arc::new(v)), None),
                Err(hot::Unusable::Absent) => (None, None),
                Err(hot::Unusable::Invalid(why)) => (None, Some(why)),
            }
        };
        *state = Some(view.clone());
        drop(state);
        if let Some(why) = invalid {
            // (warned with no lock held: the front's hook may wait for its interpreter)
            warn_once(
                "cache hot file",
                &format!(
                    "cache {}: its hot file {} is not usable ({why}); the index is read instead",
                    self.root.display(),
                    hot::path(&self.root).display()
                ),
            );
            self.mark_dirty();
        }
        view
    }

    /// The payload of `key` from the hot file, checked as an index row is. `Ok(None)`: not there
    /// (or its blob file is gone since); `Err`: the record fails its check (why).
    fn read_hot(self: &Arc<Self>, key: &Key) -> Result<Option<Payload>, String> {
        let Some(mut view) = self.hot_view() else {
            return Ok(None);
        };
        if view.find(key)?.is_none() {
            return Ok(None); // (the index is read: whether the file is current does not matter)
        }
        if !view.current(&self.root) {
            // removed (a clear, prune or eviction) or replaced since it was read: read it again
            *locked(&self.hot) = None;
            match self.hot_view() {
                Some(v) => view = v,
                None => return Ok(None),
            }
        }
        let Some(record) = view.find(key)? else {
            return Ok(None);
        };
        let found = index::Found {
            sum: record.sum.to_vec(),
            tag: record.tag.to_vec(),
            inline: record.inline.map(<[u8]>::to_vec),
            accessed: record.accessed,
        };
        match self.check(key, &found) {
            Ok(payload) => {
                // (not noted as used: the file holds it, and ranks it by its recorded use)
                if self.size_limit.is_some() || index::now() - found.accessed > TOUCH_AFTER {
                    self.enqueue_deferred(key);
                }
                Ok(Some(self.keep(key, payload)))
            }
            Err(Refused::Gone) => Ok(None),
            Err(Refused::Corrupt(why) | Refused::Unreadable(why)) => Err(why),
            Err(Refused::Foreign) => Err("its tag does not match its key".into()),
        }
    }

    /// A checked payload as returned: small ones are kept in memory (shared), large ones owned.
    fn keep(&self, key: &Key, payload: Vec<u8>) -> Payload {
        if payload.len() > MEMORY_ENTRY_MAX {
            return Payload::Owned(payload);
        }
        let payload: Arc<[u8]> = Arc::from(payload);
        self.remember(key, &payload);
        Payload::Shared(payload)
    }

    /// The payload of `key` from the index, and whether a refused entry was warned about.
    fn read_index(self: &Arc<Self>, key: &Key) -> (Option<Payload>, bool) {
        let Ok(found) = self.with_reader(|c| index::find(c, &self.root, key)) else {
            return (None, false);
        };
        let mut found = match found {
            Ok(Some(f)) => f,
            Ok(None) => return (None, false),
            Err(e) => {
                warn(&format!(
                    "cache entry {} in {} is unreadable ({e}); recomputing",
                    hex(key),
                    self.root.display()
                ));
                return (None, true);
            }
        };
        let mut checked = self.check(key, &found);
        if matches!(checked, Err(Refused::Gone)) {
            // The row may come from a read transaction that began before another process evicted
            // or cleared the entry (its file then went with it): look again in a new one before
            // calling the entry corrupt. Gone there too is a plain miss; still there and still
            // without its file is corrupt.
            readers::end_dir(&self.root);
            match self.with_reader(|c| index::find(c, &self.root, key)) {
                Ok(Ok(Some(again))) => {
                    checked = self.check(key, &again);
                    found = again;
                }
                Ok(Ok(None)) => return (None, false),
                _ => {}
            }
        }
        match checked {
            Ok(payload) => {
                let stale = index::now() - found.accessed > TOUCH_AFTER;
                if self.size_limit.is_some() || stale {
                    self.touch(key);
                }
                self.note_used(key);
                self.register_at_exit();
                (Some(self.keep(key, payload)), false)
            }
            Err(refused) => {
                let what = format!("cache entry {} in {}", hex(key), self.root.display());
                let message = match refused {
                    Refused::Gone => {
                        format!("{what} is corrupt (its data file is missing); recomputing")
                    }
                    Refused::Corrupt(why) => format!("{what} is corrupt ({why}); recomputing"),
                    Refused::Unreadable(why) => {
                        format!("{what} is unreadable ({why}); recomputing")
                    }
                    Refused::Foreign if self.signer.signed() => format!(
                        "{what} has no valid signature for this cache's secret (forged, copied \
                         from another entry, or written without it); recomputing"
                    ),
                    Refused::Foreign => format!(
                        "{what} does not belong to its key (copied from another entry, or \
                         signed with a secret); recomputing"
                    ),
                };
                warn(&message);
                let tag = found.tag;
                self.enqueue(|p| p.bad.push((*key, tag)));
                (None, true)
            }
        }
    }

    /// Records this object's first use of `key`, read from the index, for the hot file it
    /// writes at exit (which may not hold it: the file is then rewritten).
    fn note_used(&self, key: &Key) {
        let mut seen = locked(&self.seen);
        seen.entry(*key).or_insert_with(index::now);
        trim_seen(&mut seen);
        self.hot_dirty.store(true, Ordering::Relaxed);
    }

    /// [`Store::note_used`] for the rows of a commit (the hot file is rewritten at exit).
    fn note_all_used<'a>(&self, keys: impl Iterator<Item = &'a Key>) {
        let now = index::now();
        let mut seen = locked(&self.seen);
        for key in keys {
            seen.insert(*key, now);
            trim_seen(&mut seen);
        }
        self.hot_dirty.store(true, Ordering::Relaxed);
    }

    /// Marks the hot file for rewriting at exit.
    fn mark_dirty(self: &Arc<Self>) {
        self.hot_dirty.store(true, Ordering::Relaxed);
        self.register_at_exit();
    }

    /// Records a use served from the hot file, committed with the next batch or at exit (without
    /// waking the commit thread).
    fn enqueue_deferred(self: &Arc<Self>, key: &Key) {
        locked(&self.pending).deferred.insert(*key);
        self.register_at_exit();
    }

    /// Registers this store to be visited at exit (once; the flushes at the end of every run
    /// visit only the stores that write).
    fn register_at_exit(self: &Arc<Self>) {
        self.registered_at_exit.call_once(|| {
            let weak: std::sync::Weak<dyn flusher::Flush> =
                Arc::downgrade(&(self.clone() as Arc<dyn flusher::Flush>));
            flusher::register_at_exit(weak);
        });
    }

    /// Registers this store with the commit thread's list (once), so that flushes at exit see it.
    fn register(self: &Arc<Self>) {
        self.registered.call_once(|| {
            let weak: std::sync::Weak<dyn flusher::Flush> =
                Arc::downgrade(&(self.clone() as Arc<dyn flusher::Flush>));
            flusher::register(weak);
        });
    }

    /// Writes the hot file when this object used entries it may not hold: the rows this object
    /// used most recently, then those of the current file, as the index holds them now (read
    /// under its write lock, so no clear, prune or eviction runs in between; those remove the
    /// file in their own transaction). Skipped when the index is busy or absent; best effort.
    fn write_hot(&self) {
        if !self.hot_dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        if !index::index_path(&self.root).exists() {
            return;
        }
        let seen: Vec<(Key, f64)> = locked(&self.seen).iter().map(|(k, t)| (*k, *t)).collect();
        let root = &self.root;
        let _ = self.with_writer(|conn| {
            index::locked(conn, HOT_PATIENCE, |tx| {
                // the current file is read under the lock: a process that wrote it a moment ago
                // (exiting at the same time) has its rows kept, not lost to a rename in between
                let mut order = seen;
                if let Ok(current) = hot::load(root) {
                    order.extend(current.keys());
                }
                order.sort_by(|a, b| b.1.total_cmp(&a.1));
                let mut taken = HashSet::new();
                let (mut entries, mut bytes) = (Vec::new(), 0);
                for (key, _) in order {
                    if entries.len() == hot::MAX_ENTRIES {
                        break;
                    }
                    if !taken.insert(key) {
                        continue;
                    }
                    let Some(f) = index::find(tx, root, &key)? else {
                        continue;
                    };
                    let (Ok(sum), Ok(tag)) = (f.sum.try_into(), f.tag.try_into()) else {
                        continue;
                    };
                    if let Some(v) = &f.inline {
                        if bytes + v.len() > hot::MAX_BYTES {
                            continue;
                        }
                        bytes += v.len();
                    }
                    entries.push(hot::Entry {
                        key,
                        sum,
                        tag,
                        accessed: f.accessed,
                        inline: f.inline,
                    });
                }
                let written = if entries.is_empty() {
                    hot::remove(root)
                } else {
                    hot::write(root, entries)
                };
                written.map_err(index::io_error)
            })
        });
    }

    /// The payload of a found entry, after checking its content hash and its tag.
    fn check(&self, key: &Key, found: &index::Found) -> Result<Vec<u8>, Refused> {
        let sum: [u8; 32] = found
            .sum
            .as_slice()
            .try_into()
            .map_err(|_| Refused::Corrupt("bad content hash".into()))?;
        let payload = match &found.inline {
            Some(p) => p.clone(),
            None => match blobs::read(&self.root, &sum) {
                Ok(p) => p,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refused::Gone),
                Err(e) => return Err(Refused::Unreadable(e.to_string())),
            },
        };
        if trust::content_hash(&payload) != sum {
            if found.inline.is_none() {
                // a file whose content does not match its name is no use to any entry
                blobs::remove(&self.root, &sum);
            }
            return Err(Refused::Corrupt("checksum mismatch".into()));
        }
        if !self.signer.check(key, &sum, &found.tag) {
            return Err(Refused::Foreign);
        }
        Ok(payload)
    }

    /// Queues an encoded payload under `key`; a large one's file is first moved into place.
    fn write(self: &Arc<Self>, key: &Key, payload: blobs::Spilled) {
        self.register();
        let (sum, size, inline) = match payload {
            blobs::Spilled::Inline(bytes, sum) => {
                let b: Arc<[u8]> = Arc::from(bytes);
                self.remember(key, &b);
                (sum, b.len() as u64, Some(b))
            }
            blobs::Spilled::File(tmp, sum, len) => {
                if let Err(e) = blobs::place(&self.root, &tmp, &sum, len) {
                    let _ = std::fs::remove_file(&tmp);
                    self.write_failed(&format!("cannot write a cache file: {e}"));
                    return;
                }
                (sum, len, None)
            }
        };
        let tag = self.signer.tag(key, &sum);
        self.enqueue(|p| {
            p.rows.insert(
                *key,
                Unsaved {
                    sum,
                    tag,
                    size,
                    inline,
                },
            );
        });
    }

    /// Reports a failed write once per cache object; the run goes on uncached.
    fn write_failed(&self, why: &str) {
        if !self.write_failed.swap(true, Ordering::Relaxed) {
            warn(&format!(
                "cache {}: {why}; results are not being cached",
                self.root.display()
            ));
        }
    }

    /// Commits the pending batch (one transaction), and the uses served from the hot file along
    /// with it; uses of the hot file alone are left for [`Store::commit_all`].
    fn commit(&self) {
        self.commit_with(false);
    }

    /// Commits the pending batch and every recorded use (on an explicit flush, at exit).
    fn commit_all(&self) {
        self.commit_with(true);
    }

    /// Warns, after releasing every lock, when it cannot commit: the entries are then lost and
    /// recomputed next time.
    fn commit_with(&self, deferred_alone: bool) {
        let result = {
            let mut writer = locked(&self.writer);
            let batch = self.take_batch(deferred_alone);
            if batch.is_empty() {
                return;
            }
            let attempt = |writer: &mut Option<Writer>| {
                self.writer_ready(writer)?;
                let w = writer.as_mut().expect("opened above");
                index::commit(&mut w.conn, &self.root, &batch, self.size_limit)
                    .map_err(|e| e.to_string())
            };
            let mut result = attempt(&mut writer);
            if result.is_err() {
                // the index may have been deleted under us: reopen (recreating it), retry once
                *writer = None;
                self.forget_readers();
                result = attempt(&mut writer);
            }
            locked(&self.pending).committing.clear();
            if result.is_ok() && !batch.rows.is_empty() {
                self.note_all_used(batch.rows.iter().map(|r| &r.key));
                // this process's own readers see the commit at once (not after their span)
                readers::end_dir(&self.root);
                let n = self
                    .uncheckpointed
                    .fetch_add(batch.rows.len(), Ordering::Relaxed);
                if n + batch.rows.len() >= CHECKPOINT_EVERY {
                    flusher::wake();
                }
            }
            result
        };
        if let Err(e) = result {
            self.write_failed(&format!("cannot commit to the index: {e}"));
        }
    }

    /// Takes the pending batch, keeping its rows readable from this object until committed; the
    /// deferred uses go with it, or alone when `deferred_alone`.
    fn take_batch(&self, deferred_alone: bool) -> index::Batch {
        let mut p = locked(&self.pending);
        if !deferred_alone && p.rows.is_empty() && p.bad.is_empty() && p.used.is_empty() {
            return index::Batch::default();
        }
        let deferred = std::mem::take(&mut p.deferred);
        p.used.extend(deferred);
        p.since = None;
        let mut rows: Vec<index::Row> = p
            .rows
            .drain()
            .map(|(key, u)| index::Row {
                key,
                sum: u.sum,
                tag: u.tag,
                size: u.size,
                inline: u.inline,
            })
            .collect();
        // in key order (rows are appended in this order, so a batch's ids do not depend on the
        // order its items finished in)
        rows.sort_unstable_by_key(|r| r.key);
        for r in &rows {
            p.committing.insert(r.key, (r.sum, r.inline.clone()));
        }
        index::Batch {
            rows,
            bad: std::mem::take(&mut p.bad),
            used: p.used.drain().collect(),
        }
    }

    /// Warns once when the directory holds entries of the earlier one-file-per-entry layout (on a
    /// cache object's first write: a process reading only hits lists no directory).
    fn warn_legacy(&self) {
        if legacy_shards(&self.root).is_empty() {
            return;
        }
        let root = self.root.display();
        warn_once(
            "legacy cache layout",
            &format!(
                "cache directory {root} holds entries in the one-file-per-entry layout of \
                 earlier HyperNodes versions: they are ignored (`python -m hypernodes.cache \
                 {root} clear` removes them)"
            ),
        );
    }
}

impl Drop for Store {
    /// The last handle is gone: commit, then empty the write-ahead log this process wrote to (its
    /// other connections, pooled readers, keep SQLite from doing it on close), so the next
    /// process opens the index without replaying the log.
    fn drop(&mut self) {
        self.commit_all();
        self.write_hot();
        flusher::Flush::close_log(self);
    }
}

impl flusher::Flush for Store {
    fn due(&self) -> Option<Instant> {
        let p = locked(&self.pending);
        let since = p.since?;
        if p.rows.len() + p.used.len() >= BATCH_FULL {
            return Some(since);
        }
        Some(since + flusher::WINDOW)
    }

    fn flush(&self) {
        self.commit();
    }

    fn at_exit(&self) {
        self.commit_all();
        self.write_hot();
    }

    fn close_log(&self) {
        let writer = locked(&self.writer);
        // only a writer opened by this process (not one inherited through a fork)
        if self.owner.load(Ordering::Relaxed) != fork::epoch() {
            return;
        }
        if let Some(w) = writer.as_ref() {
            if index::truncate_log(&w.conn, Duration::from_millis(100)).is_ok() {
                self.uncheckpointed.store(0, Ordering::Relaxed);
            }
        }
    }

    fn maintain(&self) {
        if self.uncheckpointed.load(Ordering::Relaxed) < CHECKPOINT_EVERY {
            return;
        }
        self.uncheckpointed.store(0, Ordering::Relaxed);
        let mut c = locked(&self.checkpointer);
        if self.owner.load(Ordering::Relaxed) != fork::epoch() {
            if let Some(inherited) = c.take() {
                std::mem::forget(inherited);
            }
        }
        if c.is_none() {
            *c = self.connect().ok();
        }
        if let Some(conn) = c.as_ref() {
            if index::checkpoint(conn).is_err() {
                *c = None; // reopened next time (the directory may have been recreated)
            }
        }
    }
}

impl Cache for DiskCache {
    fn get(&self, key: &Key, types: &[Arc<dyn ValueType>]) -> Option<Vec<Value>> {
        let s = &self.store;
        if let Some(v) = locked(&s.decoded).get(key).cloned() {
            s.hits.fetch_add(1, Ordering::Relaxed);
            if s.size_limit.is_some() {
                s.touch(key);
            }
            return Some(v);
        }
        let Some(blob) = s.read(key) else {
            s.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let small = blob.len() <= MEMORY_ENTRY_MAX;
        let decoded = match blob {
            Payload::Shared(b) => decode_all(&b, types),
            Payload::Owned(v) => decode_all_owned(v, types),
        };
        match decoded {
            Ok(v) => {
                s.hits.fetch_add(1, Ordering::Relaxed);
                if small {
                    s.keep_decoded(key, &v, types);
                }
                Some(v)
            }
            Err(e) => {
                warn(&format!(
                    "cache entry {} in {} cannot be decoded ({e}); recomputing",
                    hex(key),
                    s.root.display()
                ));
                s.forget(key);
                s.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn put(&self, key: &Key, values: &[Value], types: &[Arc<dyn ValueType>]) -> Result<(), String> {
        let s = &self.store;
        if !s.opened.load(Ordering::Relaxed) {
            s.with_writer(|_| Ok(()))?;
            s.opened.store(true, Ordering::Relaxed);
            s.warn_legacy();
        }
        let mut spill = blobs::Spill::new(&s.root, INLINE_MAX);
        if let Err(msg) = encode_all_into(values, types, &mut spill) {
            let io = spill.io_error.take();
            spill.discard();
            return match io {
                // the disk is full (or the like): one warning, and the run goes on uncached
                Some(e) => {
                    s.write_failed(&format!("cannot write a cache file: {e}"));
                    Ok(())
                }
                None => Err(msg),
            };
        }
        let payload = spill.finish();
        let small = matches!(payload, blobs::Spilled::Inline(..));
        s.write(key, payload);
        if small {
            s.keep_decoded(key, values, types);
        }
        Ok(())
    }

    fn flush(&self) {
        self.store.commit();
    }
}
