//! The index: one SQLite database (WAL mode, bundled SQLite) holding a row per entry, with small
//! payloads inline and large ones named by the hash of their blob file. Running totals are kept by
//! triggers, so counting entries and bytes does not scan the table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::{blobs, hot};
use crate::cache::Key;

/// The database file's name inside the cache directory.
pub(super) const INDEX: &str = "index.sqlite";
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    key      BLOB NOT NULL UNIQUE,  -- the node call's key (32 bytes)
    sum      BLOB NOT NULL,         -- BLAKE3 of the payload (names the blob file when not inline)
    tag      BLOB NOT NULL,         -- hash or keyed MAC of key and sum
    size     INTEGER NOT NULL,      -- payload bytes
    value    BLOB,                  -- the payload when inline, else NULL
    created  REAL NOT NULL,         -- unix seconds
    accessed REAL NOT NULL          -- unix seconds of the last recorded use
);
CREATE INDEX IF NOT EXISTS entries_by_access ON entries(accessed);
CREATE INDEX IF NOT EXISTS entries_by_blob ON entries(sum) WHERE value IS NULL;
CREATE TABLE IF NOT EXISTS totals (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS entries_insert AFTER INSERT ON entries BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS entries_delete AFTER DELETE ON entries BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS entries_update AFTER UPDATE OF size ON entries BEGIN
    UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0;
END;
";

const UPSERT: &str = "INSERT INTO entries (key, sum, tag, size, value, created, accessed)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
    ON CONFLICT (key) DO UPDATE SET sum = excluded.sum, tag = excluded.tag, size = excluded.size,
        value = excluded.value, accessed = excluded.accessed";

/// One entry to write.
pub(super) struct Row {
    pub key: Key,
    pub sum: [u8; 32],
    pub tag: [u8; 32],
    pub size: u64,
    /// The payload when inline; `None` when it is in the blob file named by `sum`.
    pub inline: Option<std::sync::Arc<[u8]>>,
}

/// One entry as read.
pub(super) struct Found {
    pub sum: Vec<u8>,
    pub tag: Vec<u8>,
    pub inline: Option<Vec<u8>>,
    pub accessed: f64,
}

/// What a group commit writes: rows, entries found bad (removed unless rewritten meanwhile) and
/// entries used (their access time refreshed).
#[derive(Default)]
pub(super) struct Batch {
    pub rows: Vec<Row>,
    pub bad: Vec<(Key, Vec<u8>)>,
    pub used: Vec<Key>,
}

impl Batch {
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.bad.is_empty() && self.used.is_empty()
    }
}

/// Unix time in seconds.
pub(super) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The index file of the cache in `root`.
pub(super) fn index_path(root: &Path) -> PathBuf {
    root.join(INDEX)
}

/// Opens (creating when absent) the index in `root`, in WAL mode, with the schema in place. Several
/// processes creating one index at once may find it locked without waiting (switching to WAL
/// needs it alone): they retry for up to a minute.
pub(super) fn open(root: &Path) -> rusqlite::Result<Connection> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match try_open(root) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && start.elapsed() < Duration::from_secs(60) =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn try_open(root: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        index_path(root),
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Other processes may hold the write lock for a commit: wait for them rather than fail.
    conn.busy_timeout(Duration::from_secs(60))?;
    // 4 KiB pages (the file system's block): a shallower key index than with small pages, rows
    // packed without waste, and a checkpoint writes whole blocks. No effect once the database
    // exists (an index made with other pages keeps them).
    conn.pragma_update(None, "page_size", 4096)?;
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    // In WAL mode, NORMAL commits survive the process being killed at any moment (the OS has the
    // pages); only a power loss or OS crash may lose the last commits, never corrupt the index.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A larger page cache keeps the key index's pages in memory as the cache grows (32 MiB).
    conn.pragma_update(None, "cache_size", -32768)?;
    // Checkpoints run on the commit thread (see `checkpoint`), off the runs' path; this one (at
    // 65,536 pages of log, 256 MiB with 4 KiB pages) is a safety net for when that thread cannot
    // keep up.
    conn.pragma_update(None, "wal_autocheckpoint", 65536)?;
    // Once checkpointed, the log file is cut back to this size rather than kept at its largest.
    conn.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
    // No memory map: SQLite drops the whole map (munmap, then a page fault per page touched) at
    // the start of every read transaction after another connection committed, which at a million
    // entries made each lookup during a map cost several times more than a read per page.
    conn.pragma_update(None, "mmap_size", 0)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "the cache index {} was made by a newer HyperNodes (schema {version})",
                index_path(root).display()
            )),
        ));
    }
    if version < SCHEMA_VERSION {
        let mut conn = conn;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        return Ok(conn);
    }
    Ok(conn)
}

/// Opens a connection for lookups to the index in `root`, which exists. At this version's schema:
/// without the writer's setup (the log mode and page size are kept in the file; only a
/// connection's own settings are made), and with the lookup statement prepared. `None` when the
/// index is not at this version's schema (being created by another process, or made by another
/// version): [`open`] then makes the full checks.
pub(super) fn open_reader(root: &Path) -> rusqlite::Result<Option<Connection>> {
    let conn = Connection::open_with_flags(
        index_path(root),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // another process may hold a lock for a moment (a commit, a recovery): wait, as the writer does
    conn.busy_timeout(Duration::from_secs(60))?;
    // the first read of the file (its header)
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        return Ok(None);
    }
    conn.pragma_update(None, "cache_size", -32768)?;
    // no memory map, as the writer's connection (see `try_open`)
    conn.pragma_update(None, "mmap_size", 0)?;
    conn.prepare_cached(FIND)?;
    Ok(Some(conn))
}

const FIND: &str = "SELECT sum, tag, value, accessed FROM entries WHERE key = ?1";

/// The entry stored under `key`, if any.
pub(super) fn find(conn: &Connection, key: &Key) -> rusqlite::Result<Option<Found>> {
    conn.prepare_cached(FIND)?
        .query_row([&key[..]], |r| {
            Ok(Found {
                sum: r.get(0)?,
                tag: r.get(1)?,
                inline: r.get(2)?,
                accessed: r.get(3)?,
            })
        })
        .optional()
}

/// Writes a batch in one transaction, then evicts least recently used entries above `size_limit`.
/// A row naming a blob file that is gone (removed by an eviction in another process since it was
/// written) is skipped: the entry is recomputed next time, never left dangling.
pub(super) fn commit(
    conn: &mut Connection,
    root: &Path,
    batch: &Batch,
    size_limit: Option<u64>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let t = now();
    {
        let mut bad = tx.prepare_cached("DELETE FROM entries WHERE key = ?1 AND tag = ?2")?;
        for (key, tag) in &batch.bad {
            bad.execute(params![&key[..], tag])?;
        }
        let mut put = tx.prepare_cached(UPSERT)?;
        for row in &batch.rows {
            if row.inline.is_none() && !blobs::exists(root, &row.sum) {
                continue;
            }
            put.execute(params![
                &row.key[..],
                &row.sum[..],
                &row.tag[..],
                row.size as i64,
                row.inline.as_deref(),
                t
            ])?;
        }
        let mut used = tx.prepare_cached("UPDATE entries SET accessed = ?2 WHERE key = ?1")?;
        for key in &batch.used {
            used.execute(params![&key[..], t])?;
        }
    }
    if let Some(limit) = size_limit {
        evict(&tx, root, limit)?;
    }
    tx.commit()
}

/// Copies the write-ahead log's pages into the database as far as no reader needs them (never
/// waiting for other connections).
pub(super) fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// Copies the whole write-ahead log into the index and truncates it to nothing, unless another
/// connection (another process's) is reading or writing: then it waits at most `patience` and
/// leaves the log as it is (that connection's process empties it in turn, or the next checkpoint).
pub(super) fn truncate_log(conn: &Connection, patience: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(patience)?;
    let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    conn.busy_timeout(Duration::from_secs(60))?;
    done
}

/// Entry count and payload bytes.
pub(super) fn totals(conn: &Connection) -> rusqlite::Result<(u64, u64)> {
    conn.query_row("SELECT entries, bytes FROM totals WHERE id = 0", [], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })
}

/// Removes least recently used entries until the payloads take at most `limit` bytes.
fn evict(tx: &Connection, root: &Path, limit: u64) -> rusqlite::Result<()> {
    let (_, mut bytes) = totals(tx)?;
    if bytes > limit {
        // the hot file may list what goes now (removed inside this transaction: see `hot`)
        hot::remove(root).map_err(io_error)?;
    }
    while bytes > limit {
        let oldest: Vec<(Vec<u8>, Vec<u8>, bool, i64)> = tx
            .prepare_cached(
                "SELECT key, sum, value IS NULL, size FROM entries ORDER BY accessed LIMIT 256",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if oldest.is_empty() {
            break;
        }
        for (key, sum, in_file, size) in oldest {
            if bytes <= limit {
                break;
            }
            remove_entry(tx, root, &key, &sum, in_file)?;
            bytes = bytes.saturating_sub(size as u64);
        }
    }
    Ok(())
}

/// Deletes an entry's row and, when no other row names it, its blob file (inside the write
/// transaction, so no other process can add a row naming the file meanwhile).
fn remove_entry(
    tx: &Connection,
    root: &Path,
    key: &[u8],
    sum: &[u8],
    in_file: bool,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM entries WHERE key = ?1")?
        .execute([key])?;
    if in_file {
        let shared = tx
            .prepare_cached("SELECT 1 FROM entries WHERE sum = ?1 AND value IS NULL LIMIT 1")?
            .query_row([sum], |_| Ok(()))
            .optional()?
            .is_some();
        if let (false, Ok(sum)) = (shared, <[u8; 32]>::try_from(sum)) {
            blobs::remove(root, &sum);
        }
    }
    Ok(())
}

/// Removes every entry and every blob file (in one write transaction).
pub(super) fn clear(conn: &mut Connection, root: &Path) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (n, _) = totals(&tx)?;
    tx.execute("DELETE FROM entries", [])?;
    hot::remove(root).map_err(io_error)?;
    let _ = std::fs::remove_dir_all(root.join(blobs::BLOBS));
    tx.commit()?;
    Ok(n)
}

/// Removes the entries not used since `before` (unix seconds), and blob files no row names that
/// are older than `orphan_age` (a writer renames its file into place before committing its row).
/// Returns the numbers of entries and of orphan files removed.
pub(super) fn prune(
    conn: &mut Connection,
    root: &Path,
    before: f64,
    orphan_age: Duration,
) -> rusqlite::Result<(u64, u64)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let old: Vec<(Vec<u8>, Vec<u8>, bool)> = tx
        .prepare("SELECT key, sum, value IS NULL FROM entries WHERE accessed < ?1")?
        .query_map([before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (key, sum, in_file) in &old {
        remove_entry(&tx, root, key, sum, *in_file)?;
    }
    if !old.is_empty() {
        hot::remove(root).map_err(io_error)?;
    }
    let mut orphans = 0;
    {
        let mut named =
            tx.prepare_cached("SELECT 1 FROM entries WHERE sum = ?1 AND value IS NULL LIMIT 1")?;
        for (path, sum) in blobs::list(root) {
            let old_enough = std::fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= orphan_age);
            if !old_enough {
                continue;
            }
            let is_named = match sum {
                Some(sum) => named
                    .query_row([&sum[..]], |_| Ok(()))
                    .optional()?
                    .is_some(),
                None => false,
            };
            if !is_named && std::fs::remove_file(&path).is_ok() {
                orphans += 1;
            }
        }
    }
    tx.commit()?;
    Ok((old.len() as u64, orphans))
}

/// A file system error as an SQLite error (the transaction it happens in is rolled back).
pub(super) fn io_error(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
        Some(e.to_string()),
    )
}

/// Runs `f` holding the index's write lock (other processes' commits, clears, prunes and
/// evictions wait, or run before), waiting at most `patience` for it; `f`'s reads see the index
/// as it is. Nothing is written to the index.
pub(super) fn locked<T>(
    conn: &mut Connection,
    patience: Duration,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.busy_timeout(patience)?;
    let out = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    })();
    conn.busy_timeout(Duration::from_secs(60))?;
    out
}
