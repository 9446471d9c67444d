//! Helpers of the cache tests: a temporary cache directory with views into its index (opened as
//! another process would) and blob files, and the engine's warnings.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use hypernodes::DiskCache;

/// An index row: key, payload hash, inline payload (`None`: in a blob file), tag.
pub type Row = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, Vec<u8>);

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh path (the directory does not exist yet).
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hypernodes-cache-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    /// A fresh, existing, empty directory.
    pub fn made(tag: &str) -> TempDir {
        let dir = TempDir::new(tag);
        std::fs::create_dir_all(dir.path()).unwrap();
        dir
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The number of committed entries (read by a new cache object).
    pub fn entries(&self) -> u64 {
        DiskCache::new(&self.0).len().unwrap()
    }

    /// The index, opened as another process would.
    pub fn index(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(self.0.join("index.sqlite")).unwrap();
        c.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
        c
    }

    /// Every entry's key, payload hash, inline payload (`None`: in a blob file) and tag.
    pub fn rows(&self) -> Vec<Row> {
        let c = self.index();
        let mut q = c
            .prepare("SELECT key, sum, value, tag FROM entries ORDER BY key")
            .unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Removes the hot file (a copy of the rows last used, read before the index), so that a
    /// test of the index's own checks reads the index.
    #[allow(dead_code)]
    pub fn remove_hot(&self) {
        let _ = std::fs::remove_file(self.0.join("hot-v1"));
    }

    /// The blob file of a payload hash.
    pub fn blob(&self, sum: &[u8]) -> PathBuf {
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        self.0.join("blobs").join(&hex[..2]).join(&hex[2..])
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Warnings reported by the engine in this test process (the hook is installed on first use).
pub fn warnings() -> &'static Mutex<Vec<String>> {
    static W: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    W.get_or_init(|| {
        hypernodes::set_warning_hook(|m| warnings().lock().unwrap().push(m.to_string()));
        Mutex::new(Vec::new())
    })
}

/// The warnings so far that contain `needle`.
pub fn warnings_about(needle: &str) -> Vec<String> {
    warnings()
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains(needle))
        .cloned()
        .collect()
}
