//! Caching in the Rust front: MemoryCache and DiskCache with typed nodes, per node and per map item,
//! Merkle keys (root inputs by value, intermediates by their producer's key, uncached nodes by their
//! output value), `with_version`, nested pipelines cached as a whole and node by node, `Setting::Off`
//! below, serde-registered types on disk, and the failure paths: a corrupt or unreadable entry is
//! recomputed with a warning, a value of an unregistered type is computed and returned but not
//! stored, never an error. Parallel and threaded maps write into one DiskCache with the hits and
//! misses of sequential execution.

use std::path::Path;
use std::sync::{Arc, Mutex};

use hypernodes::{
    inputs, value, AsNode, BoxError, Cache, Callback, Callbacks, DiskCache, Event, MapMode,
    MemoryCache, Mode, Node, NodeExecutor, Outputs, Pipeline, Port, Setting, Typed, Value,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod common;
use common::disk::{warnings, warnings_about, TempDir};
use common::{int_node, s, Counter};

// ------------------------------------------------------------------------------ helpers

fn int(o: &Outputs, name: &str) -> i64 {
    *o.get::<i64>(name).expect("an i64 output")
}

fn memory() -> Arc<dyn Cache> {
    Arc::new(MemoryCache::new())
}

fn disk(dir: &Path) -> Arc<dyn Cache> {
    Arc::new(DiskCache::new(dir))
}

fn cached(p: &Pipeline, cache: &Arc<dyn Cache>) -> Pipeline {
    p.with_cache(Setting::On(cache.clone()))
}

/// Records cache-hit events: node names with signatures, and fully cached items.
#[derive(Default)]
struct Hits {
    nodes: Mutex<Vec<(String, String)>>,
    items: Mutex<Vec<usize>>,
}

impl Hits {
    fn take(&self) -> (Vec<(String, String)>, Vec<usize>) {
        let mut n = std::mem::take(&mut *self.nodes.lock().unwrap());
        let mut i = std::mem::take(&mut *self.items.lock().unwrap());
        n.sort();
        i.sort();
        (n, i)
    }

    fn names(&self) -> Vec<String> {
        self.take().0.into_iter().map(|(n, _)| n).collect()
    }
}

impl Callback for Hits {
    fn on_event(&self, event: &Event<'_>, _ctx: &hypernodes::executor_api::Context) {
        match event {
            Event::NodeCached { node, signature } => self
                .nodes
                .lock()
                .unwrap()
                .push((node.to_string(), signature.to_string())),
            Event::MapItemCached { index, .. } => self.items.lock().unwrap().push(*index),
            _ => {}
        }
    }
}

fn listen(p: &Pipeline, hits: &Arc<Hits>) -> Pipeline {
    let cb: Arc<dyn Callback> = hits.clone();
    p.with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![cb]))))
}

/// x -> a (ax = x + 1); y -> b (by = 10 y); (ax, by) -> c (out = ax + by).
fn diamond(calls: &Counter) -> Pipeline {
    Pipeline::new([
        int_node("a", &["x"], "ax", calls, |v| v[0] + 1),
        int_node("b", &["y"], "by", calls, |v| v[0] * 10),
        int_node("c", &["ax", "by"], "out", calls, |v| v[0] + v[1]),
    ])
    .unwrap()
}

/// x -> double (d = 2x) -> inc (e = d + 1).
fn chain(calls: &Counter) -> Pipeline {
    Pipeline::new([
        int_node("double", &["x"], "d", calls, |v| 2 * v[0]),
        int_node("inc", &["d"], "e", calls, |v| v[0] + 1),
    ])
    .unwrap()
    .with_name("chain")
}

fn map_x(p: &Pipeline, xs: Vec<i64>) -> Vec<Outputs> {
    p.map(inputs! {"x" => xs}, &s(&["x"]), MapMode::Zip, None)
        .unwrap()
}

// ------------------------------------------------------------------------------ per node, per item

#[test]
fn second_run_is_all_hits_in_both_caches() {
    let dir = TempDir::made("second");
    for cache in [memory(), disk(dir.path())] {
        let calls = Counter::default();
        let hits = Arc::new(Hits::default());
        let p = listen(&cached(&chain(&calls), &cache), &hits);
        let out = p.run(inputs! {"x" => 5_i64}, None).unwrap();
        assert_eq!((int(&out, "d"), int(&out, "e")), (10, 11));
        assert_eq!(calls.get(), 2);
        assert!(hits.names().is_empty());
        let out = p.run(inputs! {"x" => 5_i64}, None).unwrap();
        assert_eq!((int(&out, "d"), int(&out, "e")), (10, 11));
        assert_eq!(calls.get(), 2);
        assert_eq!(hits.names(), ["double", "inc"]);
    }
    assert_eq!(dir.entries(), 2);
}

#[test]
fn keys_are_the_same_for_every_cache_and_cache_object() {
    let dir = TempDir::made("keys");
    let calls = Counter::default();
    let mut seen = Vec::new();
    for cache in [memory(), disk(dir.path()), disk(dir.path())] {
        let hits = Arc::new(Hits::default());
        let p = listen(&cached(&chain(&calls), &cache), &hits);
        p.run(inputs! {"x" => 3_i64}, None).unwrap();
        hits.take();
        p.run(inputs! {"x" => 3_i64}, None).unwrap();
        seen.push(hits.take().0);
    }
    assert_eq!(seen[0].len(), 2);
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
}

#[test]
fn disk_entries_are_read_by_a_new_cache_object() {
    let dir = TempDir::made("reopen");
    let calls = Counter::default();
    cached(&chain(&calls), &disk(dir.path()))
        .run(inputs! {"x" => 4_i64}, None)
        .unwrap();
    let out = cached(&chain(&calls), &disk(dir.path()))
        .run(inputs! {"x" => 4_i64}, None)
        .unwrap();
    assert_eq!(int(&out, "e"), 9);
    assert_eq!(calls.get(), 2);
}

#[test]
fn map_computes_only_new_items() {
    let dir = TempDir::made("map");
    for cache in [memory(), disk(dir.path())] {
        let calls = Counter::default();
        let hits = Arc::new(Hits::default());
        let p = listen(&cached(&chain(&calls), &cache), &hits);
        let out = map_x(&p, vec![1, 2, 3]);
        assert_eq!(
            out.iter().map(|o| int(o, "e")).collect::<Vec<_>>(),
            [3, 5, 7]
        );
        assert_eq!(calls.get(), 6);
        hits.take();
        let out = map_x(&p, vec![2, 3, 4]);
        assert_eq!(
            out.iter().map(|o| int(o, "e")).collect::<Vec<_>>(),
            [5, 7, 9]
        );
        assert_eq!(calls.get(), 8);
        let (nodes, items) = hits.take();
        assert_eq!(items, [0, 1]);
        assert_eq!(nodes.len(), 4);
    }
}

#[test]
fn threaded_and_parallel_maps_into_one_disk_cache_hit_like_sequential() {
    let reference_dir = TempDir::made("ref");
    let calls = Counter::default();
    let reference = |xs: Vec<i64>| {
        let hits = Arc::new(Hits::default());
        let p = listen(&cached(&chain(&calls), &disk(reference_dir.path())), &hits);
        let out = map_x(&p, xs);
        (
            out.iter().map(|o| int(o, "e")).collect::<Vec<_>>(),
            hits.take(),
        )
    };
    let first: Vec<i64> = (0..40).collect();
    let second: Vec<i64> = (20..60).collect();
    let ref1 = reference(first.clone());
    let ref2 = reference(second.clone());
    assert_eq!(ref2.1 .1, (0..20).collect::<Vec<_>>());

    for mode in [Mode::Threaded, Mode::Parallel, Mode::Async] {
        let dir = TempDir::made("concurrent");
        let ex = Arc::new(NodeExecutor::new(Mode::Sequential, mode, Some(4)).unwrap());
        let run = |xs: Vec<i64>| {
            let hits = Arc::new(Hits::default());
            let p = listen(&cached(&chain(&calls), &disk(dir.path())), &hits)
                .with_executor(Some(ex.clone()));
            let out = map_x(&p, xs);
            (
                out.iter().map(|o| int(o, "e")).collect::<Vec<_>>(),
                hits.take(),
            )
        };
        assert_eq!(run(first.clone()), ref1, "{mode:?}");
        assert_eq!(run(second.clone()), ref2, "{mode:?}");
        let before = calls.get();
        let (_, (nodes, items)) = run((0..60).collect());
        assert_eq!(calls.get(), before, "{mode:?}");
        assert_eq!(items.len(), 60);
        assert_eq!(nodes.len(), 120);
        assert_eq!(dir.entries(), 120);
    }
}

// ------------------------------------------------------------------------------ Merkle keys

#[test]
fn changing_a_root_input_recomputes_downstream_only() {
    let calls = Counter::default();
    let hits = Arc::new(Hits::default());
    let p = listen(&cached(&diamond(&calls), &memory()), &hits);
    let out = p.run(inputs! {"x" => 1_i64, "y" => 2_i64}, None).unwrap();
    assert_eq!(int(&out, "out"), 22);
    assert_eq!(calls.get(), 3);
    let out = p.run(inputs! {"x" => 1_i64, "y" => 3_i64}, None).unwrap();
    assert_eq!(int(&out, "out"), 32);
    assert_eq!(calls.get(), 5);
    assert_eq!(hits.names(), ["a"]);
}

#[test]
fn uncached_node_lets_downstream_hit_by_output_value() {
    let calls = Counter::default();
    let parity = int_node("parity", &["x"], "p", &calls, |v| v[0] % 2).with_cache(false);
    let label = int_node("label", &["p"], "l", &calls, |v| v[0] * 100);
    let hits = Arc::new(Hits::default());
    let p = listen(
        &cached(&Pipeline::new([parity, label]).unwrap(), &memory()),
        &hits,
    );
    assert_eq!(int(&p.run(inputs! {"x" => 1_i64}, None).unwrap(), "l"), 100);
    assert_eq!(int(&p.run(inputs! {"x" => 3_i64}, None).unwrap(), "l"), 100);
    assert_eq!(calls.get(), 3); // parity twice, label once
    assert_eq!(hits.names(), ["label"]);
    assert_eq!(int(&p.run(inputs! {"x" => 4_i64}, None).unwrap(), "l"), 0);
    assert_eq!(calls.get(), 5);
}

#[test]
fn version_pins_the_code_identity() {
    let cache = memory();
    let calls = Counter::default();
    let v1 = int_node("f", &["x"], "y", &calls, |v| v[0] + 1).with_version("1");
    let v1_edited = int_node("f", &["x"], "y", &calls, |v| v[0] + 100).with_version("1");
    let v2 = int_node("f", &["x"], "y", &calls, |v| v[0] + 100).with_version("2");
    let run = |n: Node| {
        let p = cached(&Pipeline::new([n]).unwrap(), &cache);
        int(&p.run(inputs! {"x" => 1_i64}, None).unwrap(), "y")
    };
    assert_eq!(run(v1), 2);
    assert_eq!(run(v1_edited), 2); // the pin wins
    assert_eq!(calls.get(), 1);
    assert_eq!(run(v2), 101);
    assert_eq!(calls.get(), 2);
}

#[test]
fn nested_pipeline_cached_as_a_whole_and_node_by_node() {
    let calls = Counter::default();
    let inner = Pipeline::new([
        int_node("clean", &["t"], "cleaned", &calls, |v| v[0].abs()),
        int_node("count", &["cleaned", "k"], "n", &calls, |v| v[0] * v[1]),
    ])
    .unwrap()
    .with_name("inner");
    let step = inner
        .as_node(AsNode {
            name: Some("step".into()),
            ..Default::default()
        })
        .unwrap();
    let finish = int_node("finish", &["n", "extra"], "out", &calls, |v| v[0] + v[1]);
    let hits = Arc::new(Hits::default());
    let outer = listen(
        &cached(&Pipeline::new([step, finish]).unwrap(), &memory()),
        &hits,
    );
    let run = |t: i64, k: i64, extra: i64| {
        int(
            &outer
                .run(inputs! {"t" => t, "k" => k, "extra" => extra}, None)
                .unwrap(),
            "out",
        )
    };
    assert_eq!(run(-3, 2, 1), 7);
    assert_eq!(calls.get(), 3);
    assert_eq!(run(-3, 2, 1), 7);
    assert_eq!(calls.get(), 3);
    assert_eq!(hits.names(), ["finish", "step"]);
    assert_eq!(run(-3, 2, 5), 11); // outer-only input: the nested node hits as a whole
    assert_eq!(calls.get(), 4);
    assert_eq!(hits.names(), ["step"]);
    assert_eq!(run(-3, 3, 5), 14); // nested input: `clean` hits inside, `count` reruns
    assert_eq!(calls.get(), 6);
    assert_eq!(hits.names(), ["clean"]);
}

#[test]
fn nested_map_caches_per_item() {
    let calls = Counter::default();
    let inner = Pipeline::new([int_node("sq", &["x"], "y", &calls, |v| v[0] * v[0])])
        .unwrap()
        .with_name("squares");
    let node = inner
        .as_node(AsNode {
            name: Some("squares".into()),
            map_over: s(&["x"]),
            ..Default::default()
        })
        .unwrap();
    let outer = cached(&Pipeline::new([node]).unwrap(), &memory());
    let ys = |xs: Vec<i64>| {
        let out = outer.run(inputs! {"x" => xs}, None).unwrap();
        out.get::<Vec<i64>>("y").expect("a Vec<i64>").clone()
    };
    assert_eq!(ys(vec![1, 2, 3]), [1, 4, 9]);
    assert_eq!(ys(vec![2, 3, 4]), [4, 9, 16]);
    assert_eq!(calls.get(), 4);
}

#[test]
fn setting_off_switches_caching_off_below() {
    let calls = Counter::default();
    let cache = Arc::new(MemoryCache::new());
    let inner = chain(&calls).with_cache(Setting::Off);
    let step = inner
        .as_node(AsNode {
            name: Some("step".into()),
            cache: Some(false),
            ..Default::default()
        })
        .unwrap();
    let last = int_node("last", &["e"], "z", &calls, |v| v[0] * 2);
    let dyn_cache: Arc<dyn Cache> = cache.clone();
    let outer = cached(&Pipeline::new([step, last]).unwrap(), &dyn_cache);
    outer.run(inputs! {"x" => 1_i64}, None).unwrap();
    outer.run(inputs! {"x" => 1_i64}, None).unwrap();
    assert_eq!(calls.get(), 5); // double, inc twice; last once (keyed by the value of e)
    assert_eq!(cache.len(), 1);
}

// ------------------------------------------------------------------------------ types on disk

/// A custom type, stored with serde once registered.
#[derive(Clone, Debug, PartialEq)]
struct Doc {
    title: String,
    words: Vec<String>,
}

impl Serialize for Doc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.title, &self.words).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (title, words) = <(String, Vec<String>)>::deserialize(d)?;
        Ok(Doc { title, words })
    }
}

fn parse_node(calls: &Counter) -> Node {
    let calls = calls.clone();
    Node::new(
        "parse",
        vec![Port::new("text", Typed::<String>::arc())],
        vec![Port::new("doc", Typed::<Doc>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            calls.bump();
            let text = args[0].downcast_ref::<String>().unwrap();
            let mut words = text.split_whitespace().map(String::from);
            Ok(vec![value(Doc {
                title: words.next().unwrap_or_default(),
                words: words.collect(),
            })])
        },
    )
    .unwrap()
}

#[test]
fn strings_and_registered_types_round_trip_on_disk() {
    hypernodes::register_cacheable::<Doc>();
    let dir = TempDir::made("serde");
    let calls = Counter::default();
    let run = |text: &str| {
        let p = cached(
            &Pipeline::new([parse_node(&calls)]).unwrap(),
            &disk(dir.path()),
        );
        let out = p.run(inputs! {"text" => text.to_string()}, None).unwrap();
        out.get::<Doc>("doc").expect("a Doc").clone()
    };
    let expected = Doc {
        title: "Title".into(),
        words: vec!["é".into(), "b".into()],
    };
    assert_eq!(run("Title é b"), expected);
    assert_eq!(run("Title é b"), expected); // a new DiskCache object: read from disk
    assert_eq!(calls.get(), 1);
    assert_eq!(
        run("Other"),
        Doc {
            title: "Other".into(),
            words: vec![]
        }
    );
    assert_eq!(calls.get(), 2);
}

/// A type never registered with `register_cacheable`.
#[derive(Clone, Debug, PartialEq)]
struct Unregistered(i64);

#[test]
fn unregistered_type_is_computed_and_returned_but_not_stored() {
    warnings();
    let dir = TempDir::made("unregistered");
    let calls = Counter::default();
    let make_calls = calls.clone();
    let make = Node::new(
        "make_unregistered_value",
        vec![Port::new("x", Typed::<i64>::arc())],
        vec![Port::new("u", Typed::<Unregistered>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            make_calls.bump();
            Ok(vec![value(Unregistered(
                *args[0].downcast_ref::<i64>().unwrap(),
            ))])
        },
    )
    .unwrap();
    let use_calls = calls.clone();
    let read = Node::new(
        "read_unregistered_value",
        vec![Port::new("u", Typed::<Unregistered>::arc())],
        vec![Port::new("n", Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            use_calls.bump();
            Ok(vec![value(
                args[0].downcast_ref::<Unregistered>().unwrap().0 * 2,
            )])
        },
    )
    .unwrap();
    let p = cached(&Pipeline::new([make, read]).unwrap(), &disk(dir.path()));
    for _ in 0..3 {
        let out = p.run(inputs! {"x" => 21_i64}, None).unwrap();
        assert_eq!(out.get::<Unregistered>("u"), Some(&Unregistered(21)));
        assert_eq!(int(&out, "n"), 42);
    }
    // `make` ran every time (nothing stored); `read` is keyed by make's key and was stored.
    assert_eq!(calls.get(), 4);
    assert_eq!(dir.entries(), 1);
    let w = warnings_about("make_unregistered_value");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("Unregistered"), "{w:?}");

    // As a root input it cannot be keyed: computed every time, no error, in both caches.
    for cache in [memory(), disk(dir.path())] {
        let calls = Counter::default();
        let c = calls.clone();
        let reader = Node::new(
            "reader",
            vec![Port::new("u", Typed::<Unregistered>::arc())],
            vec![Port::new("n", Typed::<i64>::arc())],
            move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
                c.bump();
                Ok(vec![value(
                    args[0].downcast_ref::<Unregistered>().unwrap().0,
                )])
            },
        )
        .unwrap();
        let p = cached(&Pipeline::new([reader]).unwrap(), &cache);
        for _ in 0..2 {
            let out = p.run(inputs! {"u" => Unregistered(7)}, None).unwrap();
            assert_eq!(int(&out, "n"), 7);
        }
        assert_eq!(calls.get(), 2);
    }
}

// ------------------------------------------------------------------------------ damaged entries

fn damaged(mut data: Vec<u8>, how: &str) -> Vec<u8> {
    match how {
        "empty" => data.clear(),
        "truncated" => data.truncate(data.len() / 2),
        "first" => data[0] ^= 0xFF,
        "last" => *data.last_mut().unwrap() ^= 1,
        "appended" => data.extend_from_slice(b"garbage"),
        _ => unreachable!(),
    }
    data
}

#[test]
fn corrupt_entries_are_recomputed_with_a_warning() {
    warnings();
    for column in ["value", "sum", "tag"] {
        for how in ["empty", "truncated", "first", "last", "appended"] {
            let dir = TempDir::made(&format!("corrupt-{column}-{how}"));
            let calls = Counter::default();
            let run = || {
                let p = cached(&chain(&calls), &disk(dir.path()));
                int(&p.run(inputs! {"x" => 20_i64}, None).unwrap(), "e")
            };
            assert_eq!(run(), 41);
            assert_eq!(dir.entries(), 2);
            // the hot file holds the undamaged rows (and would serve them): this is about the index
            dir.remove_hot();
            let c = dir.index();
            for (key, sum, value, tag) in dir.rows() {
                let old = match column {
                    "value" => value.unwrap(),
                    "sum" => sum,
                    _ => tag,
                };
                c.execute(
                    &format!("UPDATE entries SET {column} = ?1 WHERE key = ?2"),
                    rusqlite::params![damaged(old, how), key],
                )
                .unwrap();
            }
            assert_eq!(run(), 41, "{column} {how}");
            assert_eq!(calls.get(), 4, "{column} {how}: recomputed");
            let w = warnings_about(&dir.path().display().to_string());
            assert_eq!(w.len(), 2, "{column} {how}: {w:?}");
            let word = if column == "tag" {
                "does not belong to its key"
            } else {
                "corrupt"
            };
            assert!(w.iter().all(|m| m.contains(word)), "{column} {how}: {w:?}");
            // Rewritten: a new cache object hits, silently.
            assert_eq!(run(), 41);
            assert_eq!(calls.get(), 4, "{column} {how}");
            assert_eq!(warnings_about(&dir.path().display().to_string()).len(), 2);
        }
    }
}

/// A node returning a 100 KB string: stored in a blob file.
fn big_text(calls: &Counter) -> Pipeline {
    let c = calls.clone();
    let n = Node::new(
        "big_text",
        vec![Port::new("x", Typed::<i64>::arc())],
        vec![Port::new("text", Typed::<String>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            c.bump();
            let x = *args[0].downcast_ref::<i64>().unwrap();
            Ok(vec![value(x.to_string().repeat(100_000))])
        },
    )
    .unwrap()
    .with_version("1");
    Pipeline::new([n]).unwrap()
}

#[test]
fn unreadable_blob_is_recomputed_with_a_warning() {
    warnings();
    let dir = TempDir::made("unreadable");
    let calls = Counter::default();
    let run = || {
        let p = cached(&big_text(&calls), &disk(dir.path()));
        let out = p.run(inputs! {"x" => 7_i64}, None).unwrap();
        out.get::<String>("text").unwrap().len()
    };
    assert_eq!(run(), 100_000);
    let rows = dir.rows();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].2.is_none(), "a large value lives in a file");
    // A directory where the blob should be: unreadable for every user, root included.
    let blob = dir.blob(&rows[0].1);
    std::fs::remove_file(&blob).unwrap();
    std::fs::create_dir(&blob).unwrap();
    assert_eq!(run(), 100_000);
    assert_eq!(calls.get(), 2);
    let w = warnings_about(&dir.path().display().to_string());
    assert!(w.iter().any(|m| m.contains("unreadable")), "{w:?}");
}

#[test]
fn prune_removes_unused_entries_and_files_left_by_killed_writers() {
    let dir = TempDir::made("abandoned");
    let calls = Counter::default();
    let p = cached(&chain(&calls), &disk(dir.path()));
    assert_eq!(int(&p.run(inputs! {"x" => 1_i64}, None).unwrap(), "e"), 3);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let orphan = dir.path().join("blobs").join("ab").join("c".repeat(62));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    let old = tmp.join("abandoned.1");
    let fresh = tmp.join("in-flight.2");
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for (f, age) in [
        (&old, Some(two_hours_ago)),
        (&fresh, None),
        (&orphan, Some(two_hours_ago)),
    ] {
        std::fs::write(f, b"half an entry").unwrap();
        if let Some(t) = age {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
    }
    let cache = DiskCache::new(dir.path());
    let report = cache.prune(std::time::Duration::from_secs(3600)).unwrap();
    assert_eq!(report.entries, 0, "the entries were just used");
    assert_eq!(
        report.files, 2,
        "the old temporary file and the orphan blob"
    );
    assert!(!old.exists() && !orphan.exists());
    assert!(
        fresh.exists(),
        "a recent one may belong to a live writer: kept"
    );
    assert_eq!(dir.entries(), 2, "the run's own entries are in place");
    let report = cache.prune(std::time::Duration::ZERO).unwrap();
    assert_eq!(report.entries, 2);
    assert_eq!(dir.entries(), 0);
}

// ------------------------------------------------------------------------------ cache=false inside

/// `t` -> stamp (uncached: a clock, a file read) -> `s`; `s` -> twice -> `u`.
fn volatile_inner(calls: &Counter) -> Pipeline {
    Pipeline::new([
        int_node("stamp", &["t"], "s", calls, |v| v[0] + 1).with_cache(false),
        int_node("twice", &["s"], "u", calls, |v| v[0] * 2),
    ])
    .unwrap()
    .with_name("volatile")
}

#[test]
fn an_uncached_inner_node_runs_every_time_and_the_nodes_around_it_still_hit() {
    for depth in [1, 2] {
        let calls = Counter::default();
        let before_calls = Counter::default();
        let mut inner = volatile_inner(&calls);
        for level in 1..depth {
            inner = Pipeline::new([inner
                .as_node(AsNode {
                    name: Some(format!("level{level}")),
                    ..Default::default()
                })
                .unwrap()])
            .unwrap()
            .with_name(format!("wrap{level}"));
        }
        let step = inner
            .as_node(AsNode {
                name: Some("step".into()),
                ..Default::default()
            })
            .unwrap();
        let before = int_node("before", &["x"], "t", &before_calls, |v| v[0] + 10);
        let after = int_node("after", &["u"], "z", &before_calls, |v| v[0] - 1);
        let hits = Arc::new(Hits::default());
        let outer = listen(
            &cached(&Pipeline::new([before, step, after]).unwrap(), &memory()),
            &hits,
        );
        for round in 0..3 {
            let out = outer.run(inputs! {"x" => 1_i64}, None).unwrap();
            assert_eq!(int(&out, "z"), (11 + 1) * 2 - 1);
            // `stamp` runs every round; `twice` hits on its unchanged input after the first
            assert_eq!(calls.get(), 2 + round, "depth {depth}, round {round}");
        }
        // `before` and `after` ran once: the nodes around the pipeline node still hit.
        assert_eq!(before_calls.get(), 2, "depth {depth}");
        let names = hits.names();
        assert!(names.contains(&"before".to_string()), "{names:?}");
        assert!(names.contains(&"after".to_string()), "{names:?}");
        assert!(!names.contains(&"step".to_string()), "{names:?}");
    }
}

// ------------------------------------------------------------------------------ unordered inputs

#[test]
fn hash_map_and_hash_set_inputs_hash_canonically() {
    use std::collections::{HashMap, HashSet};
    hypernodes::register_cacheable::<HashMap<String, i64>>();
    hypernodes::register_cacheable::<HashSet<String>>();
    let dir = TempDir::made("unordered");
    let calls = Counter::default();
    let node = || {
        let calls = calls.clone();
        Node::new(
            "total",
            vec![
                Port::new("weights", Typed::<HashMap<String, i64>>::arc()),
                Port::new("skip", Typed::<HashSet<String>>::arc()),
            ],
            vec![Port::new("sum", Typed::<i64>::arc())],
            move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
                calls.bump();
                let w = args[0].downcast_ref::<HashMap<String, i64>>().unwrap();
                let skip = args[1].downcast_ref::<HashSet<String>>().unwrap();
                let sum = w
                    .iter()
                    .filter(|(k, _)| !skip.contains(*k))
                    .map(|(_, v)| v)
                    .sum::<i64>();
                Ok(vec![value(sum)])
            },
        )
        .unwrap()
    };
    for run in 0..5 {
        // a new map and set each time, filled in another order: another iteration order
        let mut weights = HashMap::new();
        let mut skip = HashSet::new();
        let mut keys: Vec<i64> = (0..40).collect();
        if run % 2 == 1 {
            keys.reverse();
        }
        for i in keys {
            weights.insert(format!("k{i}"), i);
            if i % 3 == 0 {
                skip.insert(format!("k{i}"));
            }
        }
        let p = cached(&Pipeline::new([node()]).unwrap(), &disk(dir.path()));
        let out = p
            .run(inputs! {"weights" => weights, "skip" => skip}, None)
            .unwrap();
        assert_eq!(
            int(&out, "sum"),
            (0..40).filter(|i| i % 3 != 0).sum::<i64>()
        );
    }
    assert_eq!(calls.get(), 1, "one computation, then hits");
    assert_eq!(dir.entries(), 1, "one entry for five identical runs");
}

/// A root input type never registered with `register_cacheable`.
#[derive(Clone, Debug, PartialEq)]
struct NotRegistered(i64);

#[test]
fn an_unhashable_root_input_is_named_in_one_warning() {
    warnings();
    let calls = Counter::default();
    let c = calls.clone();
    let reader = Node::new(
        "read_not_registered",
        vec![Port::new("thing", Typed::<NotRegistered>::arc())],
        vec![Port::new("n", Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            c.bump();
            Ok(vec![value(
                args[0].downcast_ref::<NotRegistered>().unwrap().0,
            )])
        },
    )
    .unwrap();
    let p = cached(&Pipeline::new([reader]).unwrap(), &memory());
    for _ in 0..3 {
        let out = p.run(inputs! {"thing" => NotRegistered(7)}, None).unwrap();
        assert_eq!(int(&out, "n"), 7);
    }
    assert_eq!(calls.get(), 3); // uncached, as before, but no longer silently
    let w = warnings_about("input 'thing'");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("NotRegistered"), "{w:?}");
    assert!(w[0].contains("register_cacheable"), "{w:?}");
}
