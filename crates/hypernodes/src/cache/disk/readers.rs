//! Reader connections to cache indexes, pooled per directory for the whole process, so a new
//! `DiskCache` object on a directory already in use reads without opening the database again.
//! A pool is dropped when its directory's index is found deleted or replaced (its generation
//! changes), and left alone in a process forked from the one that opened it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use rusqlite::Connection;

/// Most idle connections kept per directory.
const KEEP: usize = 8;

#[derive(Default)]
struct Pool {
    generation: u64,
    idle: Vec<Connection>,
}

struct Pools {
    pid: u32,
    by_dir: HashMap<PathBuf, Pool>,
}

fn pools() -> MutexGuard<'static, Pools> {
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    let mut p = POOLS
        .get_or_init(|| {
            Mutex::new(Pools {
                pid: std::process::id(),
                by_dir: HashMap::new(),
            })
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let me = std::process::id();
    if p.pid != me {
        // SQLite connections must not cross a fork: leave the parent's alone, open new ones
        for (_, pool) in p.by_dir.drain() {
            std::mem::forget(pool.idle);
        }
        p.pid = me;
    }
    p
}

/// An idle connection to the index in `dir`, with the generation it belongs to.
pub(super) fn take(dir: &Path) -> (Option<Connection>, u64) {
    let mut p = pools();
    let pool = p.by_dir.entry(dir.to_path_buf()).or_default();
    (pool.idle.pop(), pool.generation)
}

/// Returns a connection taken at `generation` (dropped if the index changed since).
pub(super) fn give_back(dir: &Path, conn: Connection, generation: u64) {
    let mut p = pools();
    let pool = p.by_dir.entry(dir.to_path_buf()).or_default();
    if pool.generation == generation && pool.idle.len() < KEEP {
        pool.idle.push(conn);
    }
}

/// Drops the connections to `dir`'s index: it was deleted or replaced.
pub(super) fn invalidate(dir: &Path) {
    let mut p = pools();
    let pool = p.by_dir.entry(dir.to_path_buf()).or_default();
    pool.generation += 1;
    pool.idle.clear();
}
