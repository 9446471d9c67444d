//! The DiskCache of the Rust front (issue 13): an absolute path, len / stats / clear, a size limit
//! with least-recently-used eviction, an entry copied over another key refused, entries signed with a
//! secret (an unsigned or forged one refused), a deleted directory recreated, group commits visible
//! to another cache object once a run returns, a value stored in a blob file read back whole, and
//! the hot file a dropped cache leaves for the next one (issue 12, item 3).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hypernodes::{
    inputs, value, BoxError, Cache, DiskCache, Node, Pipeline, Port, Setting, Typed, Value,
};

mod common;
use common::disk::{warnings, warnings_about, TempDir};

/// `y = text of x repeated `size` times`, counting its calls.
fn repeat(calls: &Arc<AtomicUsize>, size: usize) -> Pipeline {
    let c = calls.clone();
    let n = Node::new(
        "repeat",
        vec![Port::new("x", Typed::<i64>::arc())],
        vec![Port::new("y", Typed::<String>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            c.fetch_add(1, Ordering::SeqCst);
            let x = *args[0].downcast_ref::<i64>().unwrap();
            Ok(vec![value(format!("{x:08}").repeat(size / 8))])
        },
    )
    .unwrap()
    .with_version("1");
    Pipeline::new([n]).unwrap()
}

fn run(p: &Pipeline, cache: &Arc<DiskCache>, x: i64) -> String {
    let c: Arc<dyn Cache> = cache.clone();
    let out = p
        .with_cache(Setting::On(c))
        .run(inputs! {"x" => x}, None)
        .unwrap();
    out.get::<String>("y").unwrap().clone()
}

#[test]
fn path_is_made_absolute() {
    let cache = DiskCache::new("relative/cache");
    assert!(cache.path().is_absolute());
    assert_eq!(
        cache.path(),
        std::env::current_dir().unwrap().join("relative/cache")
    );
}

#[test]
fn len_stats_clear() {
    let dir = TempDir::new("len");
    let calls = Arc::new(AtomicUsize::new(0));
    let p = repeat(&calls, 64);
    let cache = Arc::new(DiskCache::new(dir.path()));
    assert_eq!(cache.len().unwrap(), 0);
    for x in [1, 2, 3, 1] {
        run(&p, &cache, x);
    }
    let s = cache.stats().unwrap();
    assert_eq!((s.entries, s.hits, s.misses), (3, 1, 3));
    assert!(s.bytes >= 3 * 64);
    assert_eq!(DiskCache::new(dir.path()).len().unwrap(), 3);
    assert_eq!(cache.clear().unwrap(), 3);
    assert_eq!(DiskCache::new(dir.path()).len().unwrap(), 0);
    run(&p, &cache, 1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "cleared entries are recomputed"
    );
}

#[test]
fn size_limit_evicts_least_recently_used() {
    let dir = TempDir::new("limit");
    let calls = Arc::new(AtomicUsize::new(0));
    let p = repeat(&calls, 1000);
    let probe = TempDir::new("limit-probe");
    let probe_cache = Arc::new(DiskCache::new(probe.path()));
    run(&p, &probe_cache, 0);
    let entry = probe_cache.stats().unwrap().bytes;
    let cache = Arc::new(DiskCache::new(dir.path()).with_size_limit(entry * 3 + entry / 2));
    for x in 0..3 {
        run(&p, &cache, x); // one commit each: distinct access times
    }
    run(&p, &cache, 0); // a hit: 0 is now the most recently used
    run(&p, &cache, 3); // evicts 1, the least recently used
    assert_eq!(cache.len().unwrap(), 3);
    assert!(cache.stats().unwrap().bytes <= entry * 3 + entry / 2);
    let before = calls.load(Ordering::SeqCst);
    let fresh = Arc::new(DiskCache::new(dir.path()));
    for x in [0, 2, 3] {
        run(&p, &fresh, x);
    }
    assert_eq!(calls.load(Ordering::SeqCst), before, "0, 2 and 3 are kept");
    run(&p, &fresh, 1);
    assert_eq!(calls.load(Ordering::SeqCst), before + 1, "1 was evicted");
}

/// An index row: key, payload hash, tag, inline payload.
type Row = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

#[test]
fn entry_copied_over_another_key_is_refused() {
    warnings();
    let dir = TempDir::new("copied");
    let calls = Arc::new(AtomicUsize::new(0));
    let p = repeat(&calls, 16);
    let cache = Arc::new(DiskCache::new(dir.path()));
    run(&p, &cache, 1);
    run(&p, &cache, 2);
    drop(cache);
    dir.remove_hot(); // (it holds the rows before the copy; this is about the index)
    let c = dir.index();
    let rows: Vec<Row> = c
        .prepare("SELECT key, sum, tag, value FROM entries ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let (a, b) = (&rows[0], &rows[1]);
    c.execute(
        "UPDATE entries SET sum = ?1, tag = ?2, value = ?3 WHERE key = ?4",
        rusqlite::params![a.1, a.2, a.3, b.0],
    )
    .unwrap();
    drop(c);
    let fresh = Arc::new(DiskCache::new(dir.path()));
    assert_eq!(run(&p, &fresh, 1), "00000001".repeat(2));
    assert_eq!(run(&p, &fresh, 2), "00000002".repeat(2));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the entry under the wrong key was recomputed"
    );
    let w = warnings_about(&dir.path().display().to_string());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("does not belong to its key"), "{w:?}");
}

#[test]
fn signed_entries_refuse_unsigned_ones() {
    warnings();
    let dir = TempDir::new("signed");
    let calls = Arc::new(AtomicUsize::new(0));
    let p = repeat(&calls, 16);
    // written without the secret (as an attacker without it would)
    run(&p, &Arc::new(DiskCache::new(dir.path())), 5);
    let signed = Arc::new(DiskCache::new(dir.path()).with_secret(b"k3y"));
    assert!(signed.is_signed());
    assert_eq!(run(&p, &signed, 5), "00000005".repeat(2));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the unsigned entry was refused"
    );
    let w = warnings_about(&dir.path().display().to_string());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("no valid signature"), "{w:?}");
    drop(signed);
    // now signed: another object with the secret hits silently, one with another secret refuses
    run(
        &p,
        &Arc::new(DiskCache::new(dir.path()).with_secret(b"k3y")),
        5,
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    run(
        &p,
        &Arc::new(DiskCache::new(dir.path()).with_secret(b"other")),
        5,
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn deleted_directory_is_recreated() {
    warnings();
    let dir = TempDir::new("deleted");
    let calls = Arc::new(AtomicUsize::new(0));
    let p = repeat(&calls, 100_000); // a blob file
    let cache = Arc::new(DiskCache::new(dir.path()));
    run(&p, &cache, 1);
    std::fs::remove_dir_all(dir.path()).unwrap();
    run(&p, &cache, 2);
    run(&p, &cache, 3);
    assert!(warnings_about(&dir.path().display().to_string()).is_empty());
    let fresh = Arc::new(DiskCache::new(dir.path()));
    assert_eq!(fresh.len().unwrap(), 2);
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(run(&p, &fresh, 3).len(), 100_000);
    assert_eq!(calls.load(Ordering::SeqCst), before);
}

/// Lookups open the index without the writer's setup only when it is at this version's schema:
/// an index made by a newer version is never read (its entries are recomputed and a warning says
/// why), and an index file without the schema yet gets it (and then caches as usual).
#[test]
fn lookups_check_the_index_schema_version() {
    warnings();
    let calls = Arc::new(AtomicUsize::new(0));
    let p = repeat(&calls, 16);

    let newer = TempDir::new("newer-schema");
    let cache = Arc::new(DiskCache::new(newer.path()));
    run(&p, &cache, 1); // stored (no lookup found an index: none is pooled)
    drop(cache);
    newer.remove_hot(); // (our own hot file would serve; this is about the index)
    newer
        .index()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let fresh = Arc::new(DiskCache::new(newer.path()));
    assert_eq!(run(&p, &fresh, 1), "00000001".repeat(2));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "not read from a newer index"
    );
    let w = warnings_about(&newer.path().display().to_string());
    assert!(w.iter().any(|m| m.contains("newer HyperNodes")), "{w:?}");

    let bare = TempDir::new("bare-index");
    std::fs::create_dir_all(bare.path()).unwrap();
    bare.index()
        .execute_batch("CREATE TABLE other (x)")
        .unwrap(); // a database, no schema
    let cache = Arc::new(DiskCache::new(bare.path()));
    assert_eq!(run(&p, &cache, 2), "00000002".repeat(2));
    drop(cache);
    let fresh = Arc::new(DiskCache::new(bare.path()));
    assert_eq!(run(&p, &fresh, 2), "00000002".repeat(2));
    assert_eq!(calls.load(Ordering::SeqCst), 3, "stored, then a hit");
    assert_eq!(fresh.stats().unwrap().hits, 1);
}

#[test]
fn a_run_commits_before_it_returns() {
    let dir = TempDir::new("commit");
    let calls = Arc::new(AtomicUsize::new(0));
    let p = repeat(&calls, 16);
    let writer = Arc::new(DiskCache::new(dir.path()));
    let reader = Arc::new(DiskCache::new(dir.path()));
    for x in 0..20 {
        run(&p, &writer, x);
        run(&p, &reader, x); // another object sees it at once: a hit
    }
    assert_eq!(calls.load(Ordering::SeqCst), 20);
    assert_eq!(reader.stats().unwrap().hits, 20);
}

#[test]
fn writes_outside_a_run_are_committed_by_flush_drop_or_the_window() {
    let dir = TempDir::new("flush");
    let types = vec![Typed::<String>::arc()];
    let put = |cache: &DiskCache, k: u8| {
        cache
            .put(&[k; 32], &[value(format!("v{k}"))], &types)
            .unwrap();
    };
    let seen = |k: u8| {
        DiskCache::new(dir.path())
            .get(&[k; 32], &types)
            .map(|v| v[0].downcast_ref::<String>().unwrap().clone())
    };
    let cache = DiskCache::new(dir.path());
    put(&cache, 1);
    cache.flush();
    assert_eq!(seen(1).as_deref(), Some("v1"), "flush commits");
    put(&cache, 2);
    drop(cache);
    assert_eq!(seen(2).as_deref(), Some("v2"), "drop commits");
    let cache = DiskCache::new(dir.path());
    put(&cache, 3);
    let start = std::time::Instant::now();
    while seen(3).is_none() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "the commit thread did not commit within the window"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(cache);
}

/// A cache object that used entries writes, when dropped, the hot file: a new object (as in a new
/// process) serves them without the index, a large value by its blob file; a damaged record is
/// refused with one warning and recomputed; `clear` removes the file.
#[test]
fn a_dropped_cache_leaves_a_hot_file_that_serves_without_the_index() {
    warnings();
    let dir = TempDir::new("hot");
    let calls = Arc::new(AtomicUsize::new(0));
    let small = repeat(&calls, 16);
    let large = repeat(&calls, 100_000); // a blob file
    let cache = Arc::new(DiskCache::new(dir.path()));
    run(&small, &cache, 1);
    run(&large, &cache, 2);
    drop(cache);
    // moved (as another process would see it: this process's pooled readers of the old path keep
    // the index they opened)
    let dir = {
        let moved = TempDir::new("hot-moved");
        std::fs::rename(dir.path(), moved.path()).unwrap();
        moved
    };
    let hot = dir.path().join("hot-v1");
    assert!(hot.is_file());
    let index = dir.path().join("index.sqlite");
    let away = dir.path().join("index.away");
    std::fs::rename(&index, &away).unwrap();
    let fresh = Arc::new(DiskCache::new(dir.path()));
    assert_eq!(run(&small, &fresh, 1), "00000001".repeat(2));
    assert_eq!(run(&large, &fresh, 2).len(), 100_000);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "served from the hot file");
    assert_eq!(fresh.stats().unwrap().hits, 2);
    drop(fresh);
    assert!(!index.exists(), "nothing opened the index");

    // a damaged payload byte (the small entry's, the last bytes of the file): refused
    let mut bytes = std::fs::read(&hot).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&hot, &bytes).unwrap();
    let fresh = Arc::new(DiskCache::new(dir.path()));
    assert_eq!(run(&small, &fresh, 1), "00000001".repeat(2));
    assert_eq!(calls.load(Ordering::SeqCst), 3, "recomputed");
    let w = warnings_about(&dir.path().display().to_string());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("hot file"), "{w:?}");
    drop(fresh);

    std::fs::rename(&away, &index).unwrap();
    DiskCache::new(dir.path()).clear().unwrap();
    assert!(!hot.exists());
}

#[test]
fn a_hot_file_loaded_before_a_clear_serves_nothing_the_object_had_not_used() {
    warnings();
    let dir = TempDir::new("hot-clear");
    let calls = Arc::new(AtomicUsize::new(0));
    let p = repeat(&calls, 16);
    let first = Arc::new(DiskCache::new(dir.path()));
    run(&p, &first, 1);
    run(&p, &first, 2);
    drop(first); // writes the hot file (both entries)
    assert!(dir.path().join("hot-v1").is_file());
    let running = Arc::new(DiskCache::new(dir.path()));
    assert_eq!(run(&p, &running, 1), "00000001".repeat(2));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "served (the hot file is loaded now)"
    );
    assert_eq!(DiskCache::new(dir.path()).clear().unwrap(), 2);
    // x=2 was in the loaded file but not used by `running` before the clear: recomputed
    assert_eq!(run(&p, &running, 2), "00000002".repeat(2));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "not served after the clear"
    );
}

/// A lookup reads the index in a read transaction that it reuses for up to 20 ms. An entry that
/// another process evicted meanwhile (its row, then its file) is a plain miss, not a corrupt entry:
/// no warning.
#[test]
fn an_entry_evicted_during_a_reused_read_is_a_miss_not_a_corrupt_entry() {
    warnings(); // the hook, before anything can warn
    let dir = TempDir::new("evicted-read");
    let types = vec![Typed::<String>::arc()];
    let writer = DiskCache::new(dir.path());
    let big = "x".repeat(100_000); // kept in a blob file
    writer.put(&[1; 32], &[value(big)], &types).unwrap();
    writer
        .put(&[2; 32], &[value("small".to_string())], &types)
        .unwrap();
    writer.flush();
    let rows = dir.rows();
    let sum = rows.iter().find(|r| r.0 == [1u8; 32]).unwrap().1.clone();
    assert!(dir.blob(&sum).exists());
    // a hit opens a read transaction, which the next lookups reuse
    let reader = DiskCache::new(dir.path());
    assert!(reader.get(&[2; 32], &types).is_some());
    // another process evicts entry 1
    dir.index()
        .execute("DELETE FROM entries WHERE key = ?1", [vec![1u8; 32]])
        .unwrap();
    std::fs::remove_file(dir.blob(&sum)).unwrap();
    assert!(reader.get(&[1; 32], &types).is_none());
    let w = warnings_about(&dir.path().display().to_string());
    assert!(w.is_empty(), "{w:?}");
    drop((writer, reader));
}

/// A FIFO planted where a blob file belongs is refused as a corrupt entry (one warning), and the
/// lookup does not wait for a writer that never comes.
#[cfg(unix)]
#[test]
fn a_fifo_planted_as_a_blob_file_is_refused_without_waiting() {
    warnings(); // the hook, before anything can warn
    let dir = TempDir::new("fifo-blob");
    let types = vec![Typed::<String>::arc()];
    let writer = DiskCache::new(dir.path());
    writer
        .put(&[7; 32], &[value("y".repeat(100_000))], &types)
        .unwrap();
    drop(writer);
    dir.remove_hot(); // the index's entry is what this test reads
    let rows = dir.rows();
    let blob = dir.blob(&rows[0].1);
    std::fs::remove_file(&blob).unwrap();
    let c_path = std::ffi::CString::new(blob.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    let root = dir.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let types = vec![Typed::<String>::arc()];
        let _ = tx.send(DiskCache::new(&root).get(&[7; 32], &types).is_none());
    });
    let missed = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the lookup waited on the FIFO");
    assert!(missed, "a FIFO's contents were served");
    let w = warnings_about(&dir.path().display().to_string());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("corrupt"), "{w:?}");
}
