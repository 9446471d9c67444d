//! The index: one SQLite database (WAL mode, bundled SQLite) holding a row per entry, with small
//! payloads inline and large ones named by the hash of their blob file. Running totals are kept by
//! triggers, so counting entries and bytes does not scan the table.
//!
//! Rows are appended in id order and have no key index: a key's row is found through the key map
//! (`keymap`, a hash table file beside the index), and served only when its key column is the key.
//! A B-tree over random keys would cost a random page per insert and per lookup once it outgrows
//! memory; this way the cost of a write does not grow with the number of entries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::keymap::{self, KeyMap};
use super::{blobs, hot};
use crate::cache::Key;

/// The database file's name inside the cache directory.
pub(super) const INDEX: &str = "index.sqlite";
/// 1: a unique key column; 2: rows found through the key map (no key index).
const SCHEMA_VERSION: i64 = 2;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS entries (
    id       INTEGER PRIMARY KEY,   -- the row's place (the key map points here)
    key      BLOB NOT NULL,         -- the node call's key (32 bytes)
    sum      BLOB NOT NULL,         -- BLAKE3 of the payload (names the blob file when not inline)
    tag      BLOB NOT NULL,         -- hash or keyed MAC of key and sum
    size     INTEGER NOT NULL,      -- payload bytes
    value    BLOB,                  -- the payload when inline, else NULL
    created  REAL NOT NULL,         -- unix seconds
    accessed REAL NOT NULL          -- unix seconds of the last recorded use
);
CREATE TABLE IF NOT EXISTS totals (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals VALUES (0, 0, 0);
";

/// The indexes and triggers of `entries` (made after a migration has copied the rows).
const EXTRAS: &str = "
CREATE INDEX IF NOT EXISTS entries_by_access ON entries(accessed);
CREATE INDEX IF NOT EXISTS entries_by_blob ON entries(sum) WHERE value IS NULL;
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

/// Version 1's table (a unique key column) becomes version 2's: the rows are copied in their
/// order, then the indexes, triggers and totals are made again.
const MIGRATE_FROM_1: &str = "
DROP TRIGGER IF EXISTS entries_insert;
DROP TRIGGER IF EXISTS entries_delete;
DROP TRIGGER IF EXISTS entries_update;
DROP INDEX IF EXISTS entries_by_access;
DROP INDEX IF EXISTS entries_by_blob;
ALTER TABLE entries RENAME TO entries_v1;
";
const COPY_FROM_1: &str = "
INSERT INTO entries (key, sum, tag, size, value, created, accessed)
    SELECT key, sum, tag, size, value, created, accessed FROM entries_v1 ORDER BY rowid;
DROP TABLE entries_v1;
UPDATE totals SET entries = (SELECT count(*) FROM entries),
    bytes = (SELECT coalesce(sum(size), 0) FROM entries) WHERE id = 0;
";

const INSERT: &str = "INSERT INTO entries (key, sum, tag, size, value, created, accessed)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";
const UPDATE: &str = "UPDATE entries SET sum = ?2, tag = ?3, size = ?4, value = ?5, accessed = ?6
    WHERE id = ?1";

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
    // 4 KiB pages (the file system's block): a shallower table than with small pages, rows
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
    // A larger page cache keeps the table's upper pages in memory as the cache grows (32 MiB).
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
        // (read again under the lock: another process may have made or migrated it meanwhile)
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < SCHEMA_VERSION {
            if version == 1 {
                tx.execute_batch(MIGRATE_FROM_1)?;
                tx.execute_batch(TABLES)?;
                tx.execute_batch(COPY_FROM_1)?;
            } else {
                tx.execute_batch(TABLES)?;
            }
            tx.execute_batch(EXTRAS)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            // a key table left from an earlier index names other rows: built anew from this one
            rebuild_map(&tx, root, 0)?;
        }
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

const FIND: &str = "SELECT sum, tag, value, accessed, key FROM entries WHERE id = ?1";

/// The entry stored under `key`, if any: the first row the key map names for it whose own key
/// column is `key`. None without a key map (until the next commit builds it).
pub(super) fn find(conn: &Connection, root: &Path, key: &Key) -> rusqlite::Result<Option<Found>> {
    let Some(map) = keymap::current(root) else {
        return Ok(None);
    };
    map.find(key, |id| {
        let row = conn
            .prepare_cached(FIND)?
            .query_row([id], |r| {
                let found = Found {
                    sum: r.get(0)?,
                    tag: r.get(1)?,
                    inline: r.get(2)?,
                    accessed: r.get(3)?,
                };
                Ok((r.get::<_, Vec<u8>>(4)?, found))
            })
            .optional()?;
        Ok(row.filter(|(k, _)| k[..] == key[..]).map(|(_, f)| f))
    })
}

/// The key of row `id`, if there is such a row.
fn key_of(tx: &Connection, id: i64) -> rusqlite::Result<Option<Vec<u8>>> {
    tx.prepare_cached("SELECT key FROM entries WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()
}

/// The id of `key`'s row, if any (through the key map, checked against the row's key).
fn id_of(tx: &Connection, map: &KeyMap, key: &Key) -> rusqlite::Result<Option<i64>> {
    map.find(key, |id| {
        Ok(key_of(tx, id)?.filter(|k| k[..] == key[..]).map(|_| id))
    })
}

/// Builds the key map from the index's rows (the caller holds the write lock), with room for
/// `extra` more.
fn rebuild_map(tx: &Connection, root: &Path, extra: u64) -> rusqlite::Result<Arc<KeyMap>> {
    let slots: Vec<(u64, i64)> = tx
        .prepare("SELECT id, key FROM entries")?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?
        .filter_map(|row| match row {
            Ok((id, key)) => keymap::slot_of(&key, id).map(Ok),
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<_>>()?;
    let capacity = keymap::capacity_for(slots.len() as u64 + extra);
    keymap::build(root, capacity, slots.into_iter()).map_err(io_error)
}

/// Rows sampled when a writer first maps a table of a large index: the newest, and as many at
/// random (an index of at most [`VET_ALL`] rows has every row checked).
const VET_SAMPLE: i64 = 64;
const VET_ALL: u64 = 4096;

/// Whether a table a writer just mapped agrees with the index: at least as many slots as rows, and
/// a slot naming each row (up to [`VET_ALL`] rows; beyond, each of a sample: the newest, and some
/// at random). A table left from a crash, restored from elsewhere, or damaged so that rows are
/// hidden is then rebuilt rather than kept (the entries it hides would be computed again and
/// stored twice). Done once per mapping: about 1 ms.
fn vetted(tx: &Connection, map: &KeyMap) -> rusqlite::Result<bool> {
    let (entries, _) = totals(tx)?;
    if map.used() < entries {
        return Ok(false);
    }
    let named = |id: i64, key: Vec<u8>| -> bool {
        let Ok(key) = <Key>::try_from(key.as_slice()) else {
            return true; // (a row with a damaged key is no one's: it needs no slot)
        };
        map.find(&key, |slot| Ok::<_, ()>((slot == id).then_some(())))
            .is_ok_and(|found| found.is_some())
    };
    let limit = if entries <= VET_ALL { -1 } else { VET_SAMPLE };
    let newest: Vec<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT id, key FROM entries ORDER BY id DESC LIMIT ?1")?
        .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if !newest.into_iter().all(|(id, key)| named(id, key)) {
        return Ok(false);
    }
    if entries <= VET_ALL {
        return Ok(true);
    }
    let (low, high): (Option<i64>, Option<i64>) =
        // (one query each: SQLite reads min and max of the id from the B-tree's ends only when a
        // query asks for one of them; asked together, it scans every row)
        tx.query_row(
            "SELECT (SELECT min(id) FROM entries), (SELECT max(id) FROM entries)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    let (Some(low), Some(high)) = (low, high) else {
        return Ok(true);
    };
    let mut at = tx.prepare_cached("SELECT id, key FROM entries WHERE id >= ?1 LIMIT 1")?;
    let span = (high - low) as u64 + 1;
    for _ in 0..VET_SAMPLE {
        let id = low + (super::blobs::random_u64() % span) as i64;
        if let Some((id, key)) = at
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
        {
            if !named(id, key) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The key map a commit of `extra` rows writes to (the caller holds the write lock): the one in
/// place, with room for them. Built from the index when there is none, it is not valid, or it
/// does not agree with the index when this process first maps it ([`vetted`]); grown when it
/// would be more than half full (built from the index instead when most of its slots name
/// removed rows).
fn writer_map(tx: &Connection, root: &Path, extra: u64) -> rusqlite::Result<Arc<KeyMap>> {
    let map = match keymap::for_writer(root) {
        Some(map) if !keymap::needs_vetting(&map) || vetted(tx, &map)? => map,
        _ => return rebuild_map(tx, root, extra),
    };
    // (the count is read once: a table counting more slots than it has is damaged)
    let used = map.used();
    if used > map.capacity() {
        return rebuild_map(tx, root, extra);
    }
    let needed = used.saturating_add(extra);
    if needed.saturating_mul(2) <= map.capacity() {
        return Ok(map);
    }
    if totals(tx)?.0.saturating_mul(2) < used {
        return rebuild_map(tx, root, extra);
    }
    match keymap::grow(root, &map, keymap::capacity_for(needed)) {
        Ok(grown) => Ok(grown),
        // (no room on disk for a larger table: the one in place still has some)
        Err(_) if needed.saturating_mul(10) < map.capacity().saturating_mul(9) => Ok(map),
        Err(e) => Err(io_error(e)),
    }
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
    let mut map = writer_map(&tx, root, batch.rows.len() as u64)?;
    let mut rebuilt = false;
    for (key, tag) in &batch.bad {
        let mut bad =
            tx.prepare_cached("DELETE FROM entries WHERE id = ?1 AND key = ?2 AND tag = ?3")?;
        map.find(key, |id| {
            bad.execute(params![id, &key[..], tag])?;
            Ok::<_, rusqlite::Error>(None::<()>)
        })?;
    }
    for (n, row) in batch.rows.iter().enumerate() {
        if row.inline.is_none() && !blobs::exists(root, &row.sum) {
            continue;
        }
        let (sum, tag, size, value) = (&row.sum[..], &row.tag[..], row.size as i64, &row.inline);
        if let Some(id) = id_of(&tx, &map, &row.key)? {
            tx.prepare_cached(UPDATE)?
                .execute(params![id, sum, tag, size, value.as_deref(), t])?;
            continue;
        }
        tx.prepare_cached(INSERT)?.execute(params![
            &row.key[..],
            sum,
            tag,
            size,
            value.as_deref(),
            t
        ])?;
        let id = tx.last_insert_rowid();
        if map.put(&row.key, id).is_err() && !rebuilt {
            // no room within a probe's reach (a damaged table, or rows planted to crowd one run):
            // built anew, with a new seed, with this row and room for the rest; at most once per
            // commit (after that such a row is left without a slot: a miss, never a wrong value)
            map = rebuild_map(&tx, root, (batch.rows.len() - n) as u64)?;
            rebuilt = true;
        }
    }
    for key in &batch.used {
        let mut used =
            tx.prepare_cached("UPDATE entries SET accessed = ?2 WHERE id = ?1 AND key = ?3")?;
        map.find(key, |id| {
            used.execute(params![id, t, &key[..]])?;
            Ok::<_, rusqlite::Error>(None::<()>)
        })?;
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
        let oldest: Vec<(i64, Vec<u8>, bool, i64)> = tx
            .prepare_cached(
                "SELECT id, sum, value IS NULL, size FROM entries ORDER BY accessed LIMIT 256",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if oldest.is_empty() {
            break;
        }
        for (id, sum, in_file, size) in oldest {
            if bytes <= limit {
                break;
            }
            remove_entry(tx, root, id, &sum, in_file)?;
            bytes = bytes.saturating_sub(size as u64);
        }
    }
    Ok(())
}

/// Deletes an entry's row and, when no other row names it, its blob file (inside the write
/// transaction, so no other process can add a row naming the file meanwhile). Its slot in the key
/// map stays (naming no row) until the map is rebuilt.
fn remove_entry(
    tx: &Connection,
    root: &Path,
    id: i64,
    sum: &[u8],
    in_file: bool,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM entries WHERE id = ?1")?
        .execute([id])?;
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
    keymap::discard(root).map_err(io_error)?;
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
    let old: Vec<(i64, Vec<u8>, bool)> = tx
        .prepare("SELECT id, sum, value IS NULL FROM entries WHERE accessed < ?1")?
        .query_map([before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, sum, in_file) in &old {
        remove_entry(&tx, root, *id, sum, *in_file)?;
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
