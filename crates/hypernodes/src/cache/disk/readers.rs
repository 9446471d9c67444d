//! Reader connections to cache indexes, pooled per directory for the whole process, so a new
//! `DiskCache` object on a directory already in use reads without opening the database again.
//!
//! A pooled connection keeps its read transaction for up to [`SPAN`] (lookups then skip taking and
//! releasing SQLite's file locks, a few system calls each): a lookup sees the index as it was at
//! most that long ago, so an entry another process committed within that span may be recomputed,
//! never served wrong. The end of every root run ends them all ([`end_all`]). A pool is dropped when
//! its directory's index is found deleted or replaced, and left alone in a forked child.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::fork;

/// Most idle connections kept per directory.
const KEEP: usize = 8;
/// How long a read transaction is reused.
pub(super) const SPAN: Duration = Duration::from_millis(20);

/// A connection and when its open read transaction began (`None`: none open).
pub(super) struct Reader {
    conn: Connection,
    since: Option<Instant>,
}

impl Reader {
    /// A new reader on `conn`.
    pub(super) fn new(conn: Connection) -> Self {
        Reader { conn, since: None }
    }

    /// The connection, in a read transaction at most [`SPAN`] old.
    pub(super) fn fresh(&mut self) -> rusqlite::Result<&Connection> {
        match self.since {
            Some(t) if t.elapsed() < SPAN => {}
            Some(_) => {
                self.end();
                self.begin()?;
            }
            None => self.begin()?,
        }
        Ok(&self.conn)
    }

    fn begin(&mut self) -> rusqlite::Result<()> {
        self.conn.execute_batch("BEGIN")?;
        self.since = Some(Instant::now());
        Ok(())
    }

    /// Ends the read transaction, if any.
    pub(super) fn end(&mut self) {
        if self.since.take().is_some() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("COMMIT");
        }
    }
}

#[derive(Default)]
struct Pool {
    generation: u64,
    idle: Vec<Reader>,
}

struct Pools {
    epoch: u64,
    by_dir: HashMap<PathBuf, Pool>,
}

fn pools() -> MutexGuard<'static, Pools> {
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    let mut p = POOLS
        .get_or_init(|| {
            Mutex::new(Pools {
                epoch: fork::epoch(),
                by_dir: HashMap::new(),
            })
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let now = fork::epoch();
    if p.epoch != now {
        // SQLite connections must not cross a fork: leave the parent's alone, open new ones
        for (_, pool) in p.by_dir.drain() {
            std::mem::forget(pool.idle);
        }
        p.epoch = now;
    }
    p
}

/// An idle reader of the index in `dir`, with the generation it belongs to.
pub(super) fn take(dir: &Path) -> (Option<Reader>, u64) {
    let mut p = pools();
    match p.by_dir.get_mut(dir) {
        Some(pool) => (pool.idle.pop(), pool.generation),
        None => (None, 0),
    }
}

/// Returns a reader taken at `generation` (dropped if the index changed since).
pub(super) fn give_back(dir: &Path, mut reader: Reader, generation: u64) {
    let mut p = pools();
    let pool = p.by_dir.entry(dir.to_path_buf()).or_default();
    if pool.generation == generation && pool.idle.len() < KEEP {
        pool.idle.push(reader);
    } else {
        reader.end();
    }
}

/// Drops the readers of `dir`'s index: it was deleted or replaced.
pub(super) fn invalidate(dir: &Path) {
    let mut p = pools();
    let pool = p.by_dir.entry(dir.to_path_buf()).or_default();
    pool.generation += 1;
    for mut r in pool.idle.drain(..) {
        r.end();
    }
}

/// Ends the read transactions of `dir`'s idle readers (after this process committed to it).
pub(super) fn end_dir(dir: &Path) {
    let mut p = pools();
    if let Some(pool) = p.by_dir.get_mut(dir) {
        for r in pool.idle.iter_mut() {
            r.end();
        }
    }
}

/// Ends every idle reader's read transaction (at the end of a root run, and from the commit
/// thread), so that other processes' entries are seen and checkpoints can complete.
pub(super) fn end_all() {
    let mut p = pools();
    for pool in p.by_dir.values_mut() {
        for r in &mut pool.idle {
            r.end();
        }
    }
}
