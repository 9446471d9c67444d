//! The DiskCache's key map (`<cache>/keys-v1`, issue 13): the hash table file through which the
//! index finds a key's row. Tried as an unlucky user and as an attacker would: the table grown
//! several times while other threads look up (values right, the file in place never marked
//! retired), a schema-1 index migrated, a damaged, planted, linked, FIFO, directory or deleted
//! table, a header counting more slots than it has, a deleted index under a table that names its
//! rows (between runs and under a running writer), a clear under a mapped table, keys sharing their
//! first 8 bytes, and eviction and pruning that leave slots naming removed rows (re-added keys
//! serve their new values; the file stays bounded). A slot is only a hint: never a wrong value.
//!
//! The table's layout, as these tests read it: a 64-byte header (magic `HNKEYS01`, capacity u64 at
//! 8, slots used u64 at 16, retired u64 at 24), then `capacity` slots of 16 bytes (the key's first
//! 8 bytes as a u64 LE, never 0; the row id).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hypernodes::{value, Cache, DiskCache, Key, Typed, ValueType};

mod common;
use common::disk::{warnings, warnings_about, TempDir};

const TABLE: &str = "keys-v1";
const HEADER: usize = 64;
const SLOT: usize = 16;
const MIN_CAPACITY: u64 = 1024;

/// A key as the engine makes them (32 pseudo-random bytes), numbered.
fn key(i: u64) -> Key {
    let mut out = [0u8; 32];
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    for chunk in out.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

fn types() -> Vec<Arc<dyn ValueType>> {
    vec![Typed::<String>::arc()]
}

/// The value stored under key `i` in round `round`.
fn val(i: u64, round: u64) -> String {
    format!("value {i} of round {round}")
}

fn put(cache: &DiskCache, k: &Key, v: String) {
    cache.put(k, &[value(v)], &types()).unwrap();
}

fn get(cache: &DiskCache, k: &Key) -> Option<String> {
    cache
        .get(k, &types())
        .map(|v| v[0].downcast_ref::<String>().unwrap().clone())
}

/// Writes keys `ids` (values of `round`) in one commit.
fn write(root: &Path, ids: impl IntoIterator<Item = u64>, round: u64) {
    let cache = DiskCache::new(root);
    for i in ids {
        put(&cache, &key(i), val(i, round));
    }
    cache.flush();
}

/// The table file's header words: (magic, capacity, used, retired).
fn header(root: &Path) -> (u64, u64, u64, u64) {
    let b = std::fs::read(root.join(TABLE)).unwrap();
    let w = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    (w(0), w(8), w(16), w(24))
}

const MAGIC: u64 = u64::from_le_bytes(*b"HNKEYS01");

/// The prefix a key's slot holds.
fn prefix(k: &Key) -> u64 {
    u64::from_le_bytes(k[..8].try_into().unwrap()).max(1)
}

/// The byte offset of the slot holding key `k` in table bytes `b`.
fn slot_of(b: &[u8], k: &Key) -> usize {
    let cap = u64::from_le_bytes(b[8..16].try_into().unwrap());
    let p = prefix(k);
    (0..cap)
        .map(|step| HEADER + ((p.wrapping_add(step) & (cap - 1)) as usize) * SLOT)
        .find(|&at| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) == p)
        .expect("the key has a slot")
}

/// A cache of keys `0..n` (round 0) written under `tag`, then moved to a new path without its hot
/// file: what a new process sees of it (after installing the warning hook, which comes first).
fn written(tag: &str, n: u64) -> TempDir {
    warnings();
    let dir = TempDir::new(tag);
    write(dir.path(), 0..n, 0);
    let _ = std::fs::remove_file(dir.path().join("hot-v1"));
    moved(dir, &format!("{tag}-moved"))
}

/// The directory moved to a new path: what a new process sees (this process's table mappings and
/// pooled index readers belong to the old path).
fn moved(dir: TempDir, tag: &str) -> TempDir {
    let to = TempDir::new(tag);
    std::fs::rename(dir.path(), to.path()).unwrap();
    to
}

/// Looks every key of `ids` up in a new cache object: how many hit. A hit must give round
/// `round`'s value (never another key's).
fn hits(root: &Path, ids: impl IntoIterator<Item = u64>, round: u64) -> usize {
    let cache = DiskCache::new(root);
    let mut n = 0;
    for i in ids {
        if let Some(v) = get(&cache, &key(i)) {
            assert_eq!(v, val(i, round), "key {i} served a wrong value");
            n += 1;
        }
    }
    std::mem::drop(cache);
    // (a cache object that hit leaves a hot file: the next lookups are about the table)
    let _ = std::fs::remove_file(root.join("hot-v1"));
    n
}

// ------------------------------------------------------------------ growth while others read

/// 9,000 keys committed 250 at a time grow the table from 1,024 slots three times (at half full)
/// while three threads look keys up all along: every hit has its own key's value, and after every
/// commit the table in place is whole and not marked retired (a reader's fresh mapping of the new
/// file, retired by the writer that made it, would leave every process remapping it on each
/// lookup until the next growth).
#[test]
fn growth_while_other_threads_look_up() {
    warnings();
    let dir = TempDir::new("grow");
    let root = dir.path().to_path_buf();
    const N: u64 = 9000;
    const BATCH: u64 = 250;
    write(&root, [N + 1], 0); // the index exists before the readers start
    let committed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3u64)
        .map(|t| {
            let (root, committed, stop) = (root.clone(), committed.clone(), stop.clone());
            std::thread::spawn(move || {
                let cache = DiskCache::new(&root);
                let (mut hit, mut looked) = (0usize, 0usize);
                let mut seen = std::collections::HashSet::new();
                let mut x = t;
                while !stop.load(Ordering::Acquire) {
                    let done = committed.load(Ordering::Acquire) as u64;
                    // a committed key not yet read by this object (each read goes through the
                    // table once: a hit is kept in the object's memory), or one not yet written
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let i = if done > 0 && x % 2 == 0 {
                        (x >> 33) % done
                    } else {
                        done + (x >> 33) % (2 * BATCH)
                    };
                    if i < N && seen.contains(&i) {
                        continue;
                    }
                    looked += 1;
                    // (a committed key may miss: a lookup's read transaction may be up to 20 ms
                    // old; the check after the writes finds them all)
                    if let Some(v) = get(&cache, &key(i)) {
                        assert_eq!(v, val(i, 0), "key {i} served a wrong value");
                        seen.insert(i);
                        hit += 1;
                    }
                }
                std::mem::forget(cache); // (no hot file: its lock would slow the writer)
                (hit, looked)
            })
        })
        .collect();
    let writer = DiskCache::new(&root);
    let mut capacities = vec![header(&root).1];
    for start in (0..N).step_by(BATCH as usize) {
        for i in start..(start + BATCH).min(N) {
            put(&writer, &key(i), val(i, 0));
        }
        writer.flush();
        committed.store((start + BATCH).min(N) as usize, Ordering::Release);
        let (magic, capacity, used, retired) = header(&root);
        assert_eq!(magic, MAGIC);
        assert_eq!(
            retired, 0,
            "the table in place is marked retired (after {start})"
        );
        assert!(used * 2 <= capacity, "{used} of {capacity} slots used");
        if capacities.last() != Some(&capacity) {
            capacities.push(capacity);
        }
    }
    stop.store(true, Ordering::Release);
    let mut total_hits = 0;
    for r in readers {
        let (hit, looked) = r.join().expect("a reader thread panicked");
        assert!(looked > 0);
        total_hits += hit;
    }
    assert!(
        capacities.len() >= 4,
        "grown at least three times: {capacities:?}"
    );
    assert!(capacities.windows(2).all(|w| w[1] > w[0]), "{capacities:?}");
    assert!(total_hits > 0, "the readers hit");
    assert_eq!(
        std::fs::metadata(root.join(TABLE)).unwrap().len(),
        HEADER as u64 + capacities.last().unwrap() * SLOT as u64
    );
    std::mem::drop(writer);
    let fresh = moved(dir, "grow-moved");
    assert_eq!(hits(fresh.path(), 0..N, 0), N as usize);
    assert_eq!(fresh.entries(), N + 1);
    assert!(warnings_about(&root.display().to_string()).is_empty());
}

// ------------------------------------------------------------------ migration from schema 1

/// Turns a cache's index into the schema-1 layout: a unique key column and no row ids, with the
/// same indexes, triggers and totals, `user_version` 1. Rows are copied in `order`.
fn to_schema_1(root: &Path, order: &str) {
    let c = rusqlite::Connection::open(root.join("index.sqlite")).unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c.execute_batch(&format!(
        "BEGIN IMMEDIATE;
        DROP TRIGGER entries_insert; DROP TRIGGER entries_delete; DROP TRIGGER entries_update;
        DROP INDEX entries_by_access; DROP INDEX entries_by_blob;
        ALTER TABLE entries RENAME TO entries_v2;
        CREATE TABLE entries (
            key BLOB NOT NULL UNIQUE, sum BLOB NOT NULL, tag BLOB NOT NULL,
            size INTEGER NOT NULL, value BLOB, created REAL NOT NULL, accessed REAL NOT NULL);
        INSERT INTO entries SELECT key, sum, tag, size, value, created, accessed
            FROM entries_v2 ORDER BY {order};
        DROP TABLE entries_v2;
        CREATE INDEX entries_by_access ON entries(accessed);
        CREATE INDEX entries_by_blob ON entries(sum) WHERE value IS NULL;
        CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
            UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0;
        END;
        CREATE TRIGGER entries_delete AFTER DELETE ON entries BEGIN
            UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0;
        END;
        CREATE TRIGGER entries_update AFTER UPDATE OF size ON entries BEGIN
            UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0;
        END;
        PRAGMA user_version = 1;
        COMMIT;"
    ))
    .unwrap();
}

fn user_version(root: &Path) -> i64 {
    let c = rusqlite::Connection::open(root.join("index.sqlite")).unwrap();
    c.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// A schema-1 index (keys-v1 deleted, as before this version) is migrated by a new cache object's
/// first lookup: every entry hits, `user_version` becomes 2, len() is unchanged.
#[test]
fn a_schema_1_index_is_migrated_and_read() {
    let dir = written("migrate", 300);
    to_schema_1(dir.path(), "id");
    std::fs::remove_file(dir.path().join(TABLE)).unwrap();
    assert_eq!(user_version(dir.path()), 1);
    assert_eq!(
        hits(dir.path(), 0..300, 0),
        300,
        "read without running the node"
    );
    assert_eq!(user_version(dir.path()), 2);
    assert_eq!(dir.entries(), 300);
    assert_eq!(header(dir.path()).3, 0);
    assert!(warnings_about(&dir.path().display().to_string()).is_empty());
}

/// The same with the schema-2 table left in place and the rows copied in reverse order: the table
/// names other rows than the migrated index has; it is built anew, so every entry hits.
#[test]
fn a_schema_1_index_with_a_stale_table_beside_it_is_migrated_and_read() {
    let dir = written("migrate-stale", 300);
    to_schema_1(dir.path(), "id DESC");
    assert_eq!(hits(dir.path(), 0..300, 0), 300);
    assert_eq!(user_version(dir.path()), 2);
    assert_eq!(dir.entries(), 300);
    // and writing goes on: no duplicate row for a key written again
    write(dir.path(), 250..350, 0);
    assert_eq!(dir.entries(), 350);
}

// ------------------------------------------------------------------ damaged or planted tables

/// Writes 200 entries, lets `damage` alter the table (as between two runs), then: every lookup of
/// a new cache object misses or gives its own key's value, and nothing panics or hangs. Then one
/// commit (of another key): every entry is found again, with no duplicate row.
fn damaged(tag: &str, damage: impl FnOnce(&Path)) -> TempDir {
    let dir = damaged_then_committed(tag, damage);
    assert_eq!(
        hits(dir.path(), 0..200, 0),
        200,
        "entries found again after a commit"
    );
    assert_eq!(dir.entries(), 201, "no duplicate rows");
    dir
}

/// The first part of [`damaged`]: the damage, the lookups (never a wrong value, no panic, no hang),
/// and a commit of another key, after which the table in place is a whole, valid file.
fn damaged_then_committed(tag: &str, damage: impl FnOnce(&Path)) -> TempDir {
    let dir = written(tag, 200);
    damage(dir.path());
    let root = dir.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(hits(&root, 0..200, 0));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("lookups hung (or panicked) on the damaged table");
    write(dir.path(), [1000], 0);
    assert_eq!(hits(dir.path(), [1000], 0), 1);
    let (magic, capacity, _, retired) = header(dir.path());
    assert_eq!((magic, retired), (MAGIC, 0));
    let meta = std::fs::symlink_metadata(dir.path().join(TABLE)).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.len(), HEADER as u64 + capacity * SLOT as u64);
    assert!(warnings_about(&dir.path().display().to_string()).is_empty());
    dir
}

/// A table with a whole, valid header whose slots name other rows than their keys' (planted, or
/// restored from another moment): the writer that maps it checks it against the index (every row,
/// in an index this small) and rebuilds it, so after one commit every entry is found again, with
/// no duplicate row ([`damaged`]).
fn damaged_hint(tag: &str, damage: impl FnOnce(&Path)) {
    damaged(tag, damage);
}

fn table_path(root: &Path) -> PathBuf {
    root.join(TABLE)
}

/// Bytes no table holds (as disk damage or garbage would leave): `n` words of them.
fn noise(n: usize) -> Vec<u8> {
    (0..n as u64)
        .flat_map(|w| key(1 << 40 | w)[..8].to_vec())
        .collect()
}

#[test]
fn random_bytes_as_the_table() {
    damaged("random", |root| {
        let len = std::fs::metadata(table_path(root)).unwrap().len() as usize;
        std::fs::write(table_path(root), noise(len / 8)).unwrap();
    });
}

/// Random slots under a valid header: every slot taken (a probe finds no empty one and visits at
/// most all of them); the writer finds no room for a new key and rebuilds the table.
#[test]
fn random_slots_under_a_valid_header() {
    damaged("random-slots", |root| {
        let mut b = std::fs::read(table_path(root)).unwrap();
        let len = b.len();
        b[HEADER..].copy_from_slice(&noise((len - HEADER) / 8));
        std::fs::write(table_path(root), b).unwrap();
    });
}

/// A table that lost its slots (zeroed) and says so (0 used): rebuilt at the next commit.
#[test]
fn a_table_without_slots_that_says_so() {
    damaged("zeroed", |root| {
        let mut b = std::fs::read(table_path(root)).unwrap();
        b[16..24].fill(0);
        b[HEADER..].fill(0);
        std::fs::write(table_path(root), b).unwrap();
    });
}

#[test]
fn a_valid_header_claiming_a_huge_capacity() {
    damaged("huge", |root| {
        let mut b = std::fs::read(table_path(root)).unwrap();
        b[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
        std::fs::write(table_path(root), b).unwrap();
    });
    damaged("huge-pow2-fit", |root| {
        // a capacity the file is too short for, by one slot's worth
        let mut b = std::fs::read(table_path(root)).unwrap();
        b[8..16].copy_from_slice(&2048u64.to_le_bytes());
        b.resize(HEADER + 2048 * SLOT - SLOT, 0);
        std::fs::write(table_path(root), b).unwrap();
    });
}

#[test]
fn a_table_truncated_below_its_header() {
    damaged("truncated", |root| {
        let b = std::fs::read(table_path(root)).unwrap();
        std::fs::write(table_path(root), &b[..40]).unwrap();
    });
    damaged("empty", |root| {
        std::fs::write(table_path(root), b"").unwrap();
    });
}

/// A symlink planted at keys-v1, to a valid table elsewhere (a copy of this one, so a writer that
/// followed the link would write its slots there): not followed, the file it names not written.
#[cfg(unix)]
#[test]
fn a_symlink_planted_as_the_table_is_not_followed() {
    let elsewhere = TempDir::made("symlink-target");
    let target = elsewhere.path().join("victim");
    let copy = Arc::new(std::sync::Mutex::new(Vec::new()));
    let c = copy.clone();
    let t = target.clone();
    damaged("symlink", move |root| {
        std::fs::rename(table_path(root), &t).unwrap();
        *c.lock().unwrap() = std::fs::read(&t).unwrap();
        std::os::unix::fs::symlink(&t, table_path(root)).unwrap();
    });
    assert_eq!(
        std::fs::read(&target).unwrap(),
        *copy.lock().unwrap(),
        "the file the link names was written"
    );
}

/// A FIFO planted at keys-v1: lookups do not wait for a writer that never comes.
#[cfg(unix)]
#[test]
fn a_fifo_planted_as_the_table_does_not_hang() {
    damaged("fifo", |root| {
        std::fs::remove_file(table_path(root)).unwrap();
        let c = std::ffi::CString::new(table_path(root).as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    });
}

/// An empty directory at keys-v1 (made by mistake): removed by the next commit, which puts a table
/// in its place; no warning, and every entry is found again.
#[test]
fn an_empty_directory_as_the_table_is_replaced() {
    damaged("empty-dir", |root| {
        std::fs::remove_file(table_path(root)).unwrap();
        std::fs::create_dir(table_path(root)).unwrap();
    });
}

/// A directory with files at keys-v1 (planted, or made by mistake): a table cannot be renamed over
/// it, and HyperNodes does not delete what it did not make, so nothing is found and nothing
/// committed; the one warning says so and names keys-v1, the thing at fault (not only "Is a
/// directory"), and values are computed as usual.
#[test]
fn a_directory_planted_as_the_table_is_named_in_the_warning() {
    let dir = written("dir-table", 20);
    std::fs::remove_file(table_path(dir.path())).unwrap();
    std::fs::create_dir(table_path(dir.path())).unwrap();
    std::fs::write(table_path(dir.path()).join("someone's file"), b"kept").unwrap();
    assert_eq!(hits(dir.path(), 0..20, 0), 0);
    write(dir.path(), [100], 0);
    let w = warnings_about(&dir.path().display().to_string());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(&table_path(dir.path()).display().to_string()),
        "{w:?}"
    );
}

/// A header counting more used slots than the table has (up to u64::MAX, which overflowed the
/// writer's arithmetic: a panic in a debug build, a wrapped count kept as valid in a release one):
/// a damaged table, rebuilt at the next commit.
#[test]
fn a_header_counting_more_used_slots_than_there_are() {
    for (n, used) in [u64::MAX, u64::MAX / 2 + 1, 1025].into_iter().enumerate() {
        damaged(&format!("used-{n}"), |root| {
            let mut b = std::fs::read(table_path(root)).unwrap();
            b[16..24].copy_from_slice(&used.to_le_bytes());
            b[HEADER..].fill(0); // (and its slots lost: only a rebuild finds the entries)
            std::fs::write(table_path(root), b).unwrap();
        });
    }
}

/// Slots swapped in pairs (key A's slot names key B's row, and B's A's): neither is served the
/// other's value.
#[test]
fn swapped_slots_never_serve_another_keys_row() {
    damaged_hint("swapped", |root| {
        let mut b = std::fs::read(table_path(root)).unwrap();
        for (x, y) in [(3, 4), (10, 150), (0, 199)] {
            let (a, c) = (slot_of(&b, &key(x)), slot_of(&b, &key(y)));
            let (ida, idc) = (b[a + 8..a + 16].to_vec(), b[c + 8..c + 16].to_vec());
            b[a + 8..a + 16].copy_from_slice(&idc);
            b[c + 8..c + 16].copy_from_slice(&ida);
        }
        std::fs::write(table_path(root), b).unwrap();
    });
}

/// Every slot's row id shifted by one (each key's slot names the next row): nothing served wrong.
#[test]
fn shifted_row_ids_never_serve_another_keys_row() {
    damaged_hint("shifted", |root| {
        let mut b = std::fs::read(table_path(root)).unwrap();
        for at in (HEADER..b.len()).step_by(SLOT) {
            if b[at..at + 8] != [0; 8] {
                let id = u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap());
                b[at + 8..at + 16].copy_from_slice(&(id % 200 + 1).to_le_bytes());
            }
        }
        std::fs::write(table_path(root), b).unwrap();
    });
}

/// Slots zeroed while the header still counts them used: kept as a hint, never a wrong value.
#[test]
fn a_table_without_slots_that_says_it_has_them() {
    damaged_hint("zeroed-used", |root| {
        let mut b = std::fs::read(table_path(root)).unwrap();
        b[HEADER..].fill(0);
        std::fs::write(table_path(root), b).unwrap();
    });
}

/// An index above the size a writer checks row by row (4,096 rows): the newest rows hidden by a
/// table restored from an earlier moment (their slots name rows that do not exist) are found by the
/// writer's sample, and the table rebuilt: every entry found again, no duplicate row.
#[test]
fn a_large_index_under_a_table_hiding_its_newest_rows() {
    let n = 5000;
    let dir = written("large-hidden", n);
    let newest: Vec<Vec<u8>> = {
        let c = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
        let mut q = c
            .prepare("SELECT key FROM entries ORDER BY id DESC LIMIT 10")
            .unwrap();
        q.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let mut b = std::fs::read(table_path(dir.path())).unwrap();
    for k in &newest {
        let at = slot_of(&b, &Key::try_from(k.as_slice()).unwrap());
        b[at + 8..at + 16].copy_from_slice(&999_999_999u64.to_le_bytes());
    }
    std::fs::write(table_path(dir.path()), b).unwrap();
    assert_eq!(hits(dir.path(), 0..n, 0), n as usize - 10);
    write(dir.path(), [n + 1], 0);
    assert_eq!(hits(dir.path(), 0..n, 0), n as usize, "found again");
    assert_eq!(dir.entries(), n + 1, "no duplicate rows");
}

// ------------------------------------------------------------------ deleted table or index

#[test]
fn a_deleted_table_is_rebuilt_at_the_next_commit() {
    damaged("deleted", |root| {
        std::fs::remove_file(table_path(root)).unwrap();
    });
}

/// The index deleted (with its log files) while keys-v1 stays: the stale table names rows of
/// another index. New entries written in a different order get other ids; none is served with
/// another key's value, and each is found after its commit.
#[test]
fn a_deleted_index_under_a_table_that_stays() {
    let dir = written("index-deleted", 200);
    let stale = std::fs::read(table_path(dir.path())).unwrap();
    for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    assert_eq!(hits(dir.path(), 0..200, 0), 0);
    // keys 100..300 with round 1's values: row ids 1..200 again, each (rows are committed in no
    // set order) most likely another key's than before
    write(dir.path(), (100..300).rev(), 1);
    assert_eq!(hits(dir.path(), 0..100, 0), 0, "gone with the index");
    assert_eq!(hits(dir.path(), 100..300, 1), 200);
    assert_eq!(dir.entries(), 200);
    assert_ne!(std::fs::read(table_path(dir.path())).unwrap(), stale);
    // the stale table planted back over the new one: still never another key's value
    let planted = dir.path().join("planted");
    std::fs::write(&planted, &stale).unwrap();
    std::fs::rename(&planted, table_path(dir.path())).unwrap();
    let dir = moved(dir, "index-deleted-again");
    // (a valid table counting as many slots as the index has rows: a hint until a writer maps it;
    // some of its slots may name their own key's row again)
    let n = hits(dir.path(), 100..300, 1); // checks every value served
    assert!(n < 200, "the stale table found {n} rows of the new index");
    write(dir.path(), (100..300).rev(), 1); // recomputed by a run that missed them
    assert_eq!(
        hits(dir.path(), 100..300, 1),
        200,
        "found once written again"
    );
    // (the writer checked the table against the index and rebuilt it before writing)
    assert_eq!(dir.entries(), 200, "no duplicate rows");
    // (a row of another key is passed over as a hint that led nowhere, not refused as corrupt)
    let w = warnings_about("index-deleted");
    assert!(w.is_empty(), "{w:?}");
}

/// The same under a cache object that keeps writing (its process has the table mapped and the
/// index open): keys-v1 deleted, then the index; each time the object's next commit rebuilds the
/// table, and a new object is served exactly what the index holds.
#[test]
fn a_table_or_index_deleted_under_a_running_writer() {
    warnings();
    let dir = TempDir::new("running");
    let writer = DiskCache::new(dir.path());
    let commit = |ids: std::ops::Range<u64>, round| {
        for i in ids {
            put(&writer, &key(i), val(i, round));
        }
        writer.flush();
    };
    commit(0..100, 0);
    std::fs::remove_file(table_path(dir.path())).unwrap();
    commit(100..200, 0);
    assert_eq!(hits(dir.path(), 0..200, 0), 200);
    assert_eq!(dir.entries(), 200);
    for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    commit(200..300, 1); // rows 1..100 of a new index
    assert_eq!(hits(dir.path(), 0..200, 0), 0, "gone with the index");
    assert_eq!(hits(dir.path(), 200..300, 1), 100);
    assert_eq!(dir.entries(), 100);
    let (magic, _, used, retired) = header(dir.path());
    assert_eq!((magic, used, retired), (MAGIC, 100, 0));
    let w = warnings_about(&dir.path().display().to_string());
    assert!(w.is_empty(), "{w:?}");
}

// ------------------------------------------------------------------ clear under a mapped table

/// A cache object that has the table mapped (it looked keys up) keeps looking up while another
/// clears: nothing is served after the clear, and rows written after it (which take the row ids
/// the cleared ones had) serve their own values only.
#[test]
fn clear_under_a_mapped_table() {
    warnings();
    let dir = TempDir::new("clear");
    write(dir.path(), 0..300, 0);
    let _ = std::fs::remove_file(dir.path().join("hot-v1"));
    let reader = DiskCache::new(dir.path());
    assert_eq!(get(&reader, &key(0)).as_deref(), Some(&*val(0, 0)));
    assert_eq!(DiskCache::new(dir.path()).clear().unwrap(), 300);
    assert!(!table_path(dir.path()).exists());
    for i in 1..300 {
        assert_eq!(
            get(&reader, &key(i)),
            None,
            "key {i} served after the clear"
        );
    }
    // rows 1.. again, for other keys: the old slots name them
    write(dir.path(), (300..600).rev(), 1);
    for i in 1..300 {
        assert_eq!(
            get(&reader, &key(i)),
            None,
            "key {i} served after the clear"
        );
    }
    assert_eq!(hits(dir.path(), 300..600, 1), 300);
}

// ------------------------------------------------------------------ keys sharing a prefix

/// Keys that share their first 8 bytes (the slot's prefix; an attacker choosing inputs can find
/// such keys with about 2^32 hashes) share a probe: each has its own slot, so all are served their
/// own values, in the process that wrote them (its table already compared with the index) as in a
/// new one, and writing them again adds no duplicate row.
#[test]
fn keys_sharing_their_first_8_bytes() {
    warnings();
    let dir = TempDir::new("prefix");
    let twins: Vec<Key> = (0..5u8)
        .map(|n| {
            let mut k = key(77);
            k[31] ^= n + 1;
            k
        })
        .collect();
    let twin = |n: usize| format!("twin {n}");
    let writer = DiskCache::new(dir.path());
    for (n, k) in twins.iter().enumerate() {
        put(&writer, k, twin(n));
        writer.flush(); // one commit each
    }
    let check = |root: &Path, when: &str| {
        let reader = DiskCache::new(root);
        for (n, k) in twins.iter().enumerate() {
            assert_eq!(get(&reader, k), Some(twin(n)), "twin {n} {when}");
        }
        std::mem::forget(reader); // (no hot file)
    };
    check(dir.path(), "in the writing process");
    // written again (as a run that missed them would): one row per key
    for (n, k) in twins.iter().enumerate() {
        put(&writer, k, twin(n));
    }
    writer.flush();
    assert_eq!(dir.entries(), 5, "duplicate rows for keys sharing a prefix");
    drop(writer);
    let _ = std::fs::remove_file(dir.path().join("hot-v1"));
    let dir = moved(dir, "prefix-moved");
    check(dir.path(), "in a new process");
    write(dir.path(), [1], 0); // a new process's first commit
    assert_eq!(dir.entries(), 6);
    check(dir.path(), "after a new process's commit");
}

// ------------------------------------------------------------------ eviction and pruning

/// With a small size limit, 60 rounds of 20 new keys (1,200 in all, at most 60 kept at a time)
/// and 10 keys evicted rounds before written again with new values: each re-added key serves its
/// new value, and the table does not grow with the keys ever written. Bound: at a commit of `b`
/// rows the table grows only while its used slots are at most twice the index's entries `e`
/// (else it is rebuilt from the index), so it never holds more than capacity_for(2e + b) =
/// next_power_of_two(max(4 (2e + b), 1024)) slots: with e <= 60 and b = 30, the 1,024-slot
/// minimum. Without that rebuild, 1,200 used slots would need 4,096.
#[test]
fn eviction_leaves_dead_slots_that_neither_serve_nor_grow_the_table() {
    warnings();
    let dir = TempDir::new("evict");
    let probe = TempDir::new("evict-probe");
    write(probe.path(), [0], 0);
    let entry = DiskCache::new(probe.path()).stats().unwrap().bytes;
    let keep = 60;
    let limit = entry * keep;
    let cache = DiskCache::new(dir.path()).with_size_limit(limit);
    let mut capacities = std::collections::BTreeSet::new();
    for round in 0..60u64 {
        let fresh: Vec<u64> = (round * 20..round * 20 + 20).collect();
        // 10 keys evicted 5 rounds (150 rows) ago, written again with this round's values
        let again: Vec<u64> = if round >= 5 {
            ((round - 5) * 20..(round - 5) * 20 + 10).collect()
        } else {
            Vec::new()
        };
        for &i in fresh.iter().chain(&again) {
            put(&cache, &key(i), val(i, round));
        }
        cache.flush();
        let (_, capacity, used, retired) = header(dir.path());
        assert_eq!(retired, 0);
        assert!(used * 2 <= capacity);
        capacities.insert(capacity);
        if !again.is_empty() {
            let reader = DiskCache::new(dir.path());
            for &i in &again {
                assert_eq!(
                    get(&reader, &key(i)),
                    Some(val(i, round)),
                    "key {i} re-added in round {round}"
                );
            }
            std::mem::forget(reader); // (no hot file)
        }
    }
    let s = cache.stats().unwrap();
    assert!(s.bytes <= limit && s.entries <= keep, "{s:?}");
    assert_eq!(capacities.into_iter().collect::<Vec<_>>(), [MIN_CAPACITY]);
    assert_eq!(
        std::fs::metadata(table_path(dir.path())).unwrap().len(),
        HEADER as u64 + MIN_CAPACITY * SLOT as u64
    );
}

/// Pruning every entry leaves every slot naming a removed row, and the next rows take the same
/// ids (SQLite gives max(id) + 1): 50 other keys take ids 1..50, whose old slots still name them
/// (none serves, none is refused as corrupt); the pruned keys written again serve their new values.
#[test]
fn keys_pruned_then_written_again_serve_their_new_values() {
    warnings();
    let dir = TempDir::new("prune");
    write(dir.path(), 0..100, 0);
    let cache = DiskCache::new(dir.path());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(cache.prune(Duration::ZERO).unwrap().entries, 100);
    assert_eq!(cache.len().unwrap(), 0);
    drop(cache);
    let _ = std::fs::remove_file(dir.path().join("hot-v1"));
    assert_eq!(hits(dir.path(), 0..100, 0), 0, "served after the prune");
    write(dir.path(), 100..150, 1);
    assert_eq!(hits(dir.path(), 0..100, 0), 0, "served after the prune");
    write(dir.path(), 0..100, 1);
    assert_eq!(hits(dir.path(), 0..150, 1), 150);
    let w = warnings_about(&dir.path().display().to_string());
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(dir.entries(), 150);
}
