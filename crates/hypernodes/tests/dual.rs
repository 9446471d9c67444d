//! Dual nodes (`Node::dual`): `run` calls the per-item function, `map` the batch function on batches
//! of the items that missed the cache, in every mode, with ordinary nodes around them running per
//! item.

mod common;

use std::sync::{Arc, Mutex};

use common::{int_node, s, Counter};
use hypernodes::{
    inputs, value, BatchArg, BoxError, Cache, Error, MapMode, MemoryCache, Mode, Node,
    NodeExecutor, Outputs, Pipeline, Port, Setting, Typed, Value,
};

fn int(o: &Outputs, name: &str) -> i64 {
    *o.get::<i64>(name).expect("an i64 output")
}

/// What the batch function saw: per call, the number of items and whether each argument was
/// the batch's values (`Some(values)`) or one shared value (`None`).
type Seen = Arc<Mutex<Vec<Vec<Option<Vec<i64>>>>>>;

/// `scaled = x * k`; `x` per item, `k` usually shared. `wrong` makes the batch drop a row.
fn scale(single: &Counter, seen: &Seen, batch_size: usize, wrong: bool) -> Node {
    let (single, seen) = (single.clone(), seen.clone());
    let ports = vec![
        Port::new("x", Typed::<i64>::arc()),
        Port::new("k", Typed::<i64>::arc()),
    ];
    let i = |v: &Value| *v.downcast_ref::<i64>().expect("an i64");
    Node::dual(
        "scale",
        ports,
        vec![Port::new("scaled", Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            single.bump();
            Ok(vec![value(i(&args[0]) * i(&args[1]))])
        },
        move |args: Vec<BatchArg>, len: usize| -> Result<Vec<Vec<Value>>, BoxError> {
            let cols: Vec<Option<Vec<i64>>> = args
                .iter()
                .map(|a| match a {
                    BatchArg::Items(vs) => Some(vs.iter().map(i).collect()),
                    BatchArg::Shared(_) => None,
                })
                .collect();
            seen.lock().unwrap().push(cols);
            let at = |a: &BatchArg, r: usize| match a {
                BatchArg::Items(vs) => i(&vs[r]),
                BatchArg::Shared(v) => i(v),
            };
            let rows = if wrong { len - 1 } else { len };
            Ok((0..rows)
                .map(|r| vec![value(at(&args[0], r) * at(&args[1], r))])
                .collect())
        },
        batch_size,
    )
    .unwrap()
}

fn pipeline(single: &Counter, seen: &Seen, batch_size: usize, after: &Counter) -> Pipeline {
    Pipeline::new([
        int_node("inc", &["raw"], "x", &Counter::new(), |v| v[0] + 1),
        scale(single, seen, batch_size, false),
        int_node("plus", &["scaled"], "out", after, |v| v[0] + 1000),
    ])
    .unwrap()
}

fn executor(map: Mode) -> Arc<dyn hypernodes::Executor> {
    Arc::new(NodeExecutor::new(Mode::Sequential, map, Some(2)).unwrap())
}

#[test]
fn run_calls_the_single_function_and_map_the_batch_in_every_mode() {
    for mode in [
        Mode::Sequential,
        Mode::Threaded,
        Mode::Async,
        Mode::Parallel,
    ] {
        let (single, after, seen) = (Counter::new(), Counter::new(), Seen::default());
        let p = pipeline(&single, &seen, 4, &after).with_executor(Some(executor(mode)));
        let one = p
            .run(inputs! {"raw" => 1_i64, "k" => 10_i64}, None)
            .unwrap();
        assert_eq!(int(&one, "out"), 1020);
        assert_eq!((single.get(), seen.lock().unwrap().len()), (1, 0));

        let raws: Vec<i64> = (0..10).collect();
        let results = p
            .map(
                inputs! {"raw" => raws, "k" => 3_i64},
                &s(&["raw"]),
                MapMode::Zip,
                None,
            )
            .unwrap();
        let outs: Vec<i64> = results.iter().map(|o| int(o, "out")).collect();
        let expected: Vec<i64> = (0..10).map(|r| (r + 1) * 3 + 1000).collect();
        assert_eq!(outs, expected, "{mode:?}");
        assert_eq!(single.get(), 1, "{mode:?}: no per-item call in a map");
        // 10 items in batches of at most 4; `x` varies, `k` is shared; the node after runs per item
        let calls = seen.lock().unwrap().clone();
        let sizes: Vec<usize> = calls.iter().map(|c| c[0].as_ref().unwrap().len()).collect();
        assert_eq!(sizes, [4, 4, 2], "{mode:?}");
        assert!(
            calls.iter().all(|c| c[1].is_none()),
            "{mode:?}: k is shared"
        );
        assert_eq!(calls[0][0].as_deref(), Some(&[1_i64, 2, 3, 4][..]));
        assert_eq!(after.get(), 1 + 10, "{mode:?}");
    }
}

#[test]
fn cached_items_are_left_out_of_the_batch() {
    let (single, after, seen) = (Counter::new(), Counter::new(), Seen::default());
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let p = pipeline(&single, &seen, 100, &after).with_cache(Setting::On(cache));
    let map = |raws: Vec<i64>| {
        p.map(
            inputs! {"raw" => raws, "k" => 2_i64},
            &s(&["raw"]),
            MapMode::Zip,
            None,
        )
        .unwrap()
    };
    map(vec![1, 2, 3]);
    let results = map(vec![1, 5, 3, 6]);
    let outs: Vec<i64> = results.iter().map(|o| int(o, "out")).collect();
    assert_eq!(outs, [1004, 1012, 1008, 1014]);
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1][0].as_deref(),
        Some(&[6_i64, 7][..]),
        "only the misses"
    );
    // a run hits what a map stored, and the other way round
    let one = p.run(inputs! {"raw" => 5_i64, "k" => 2_i64}, None).unwrap();
    assert_eq!(int(&one, "scaled"), 12);
    assert_eq!(single.get(), 0);
}

#[test]
fn a_mapped_broadcast_parameter_arrives_as_the_batch_values() {
    let (single, after, seen) = (Counter::new(), Counter::new(), Seen::default());
    let p = pipeline(&single, &seen, 8, &after);
    let results = p
        .map(
            inputs! {"raw" => vec![1_i64, 2], "k" => vec![5_i64, 7]},
            &s(&["raw", "k"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    assert_eq!(int(&results[1], "scaled"), 21);
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls[0][1].as_deref(), Some(&[5_i64, 7][..]));
}

#[test]
fn a_batch_of_the_wrong_length_names_the_node_and_both_lengths() {
    let seen = Seen::default();
    let p = Pipeline::new([scale(&Counter::new(), &seen, 10, true)]).unwrap();
    let err = p
        .map(
            inputs! {"x" => vec![1_i64, 2, 3], "k" => 1_i64},
            &s(&["x"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BatchLength {
                expected: 3,
                got: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("'scale'") && text.contains('3') && text.contains('2'),
        "{text}"
    );
}

#[test]
fn a_zero_batch_size_is_refused() {
    let err = Node::dual(
        "d",
        vec![],
        vec![Port::new("o", Typed::<i64>::arc())],
        |_: Vec<Value>| -> Result<Vec<Value>, BoxError> { Ok(vec![value(1_i64)]) },
        |_: Vec<BatchArg>, _: usize| -> Result<Vec<Vec<Value>>, BoxError> { Ok(vec![]) },
        0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("batch_size"), "{err}");
}

/// Counts item ends and node ends per node name.
#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl hypernodes::Callback for Events {
    fn on_event(&self, event: &hypernodes::Event<'_>, _ctx: &hypernodes::executor_api::Context) {
        let name = match event {
            hypernodes::Event::MapItemEnd { .. } => "item".to_string(),
            hypernodes::Event::NodeEnd { node, .. } => format!("end {node}"),
            hypernodes::Event::NodeCached { node, .. } => format!("cached {node}"),
            _ => return,
        };
        self.0.lock().unwrap().push(name);
    }
}

#[test]
fn callbacks_count_items_and_cached_items_as_usual() {
    let (single, after, seen) = (Counter::new(), Counter::new(), Seen::default());
    let events = Arc::new(Events::default());
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let callbacks = Arc::new(hypernodes::Callbacks::new(vec![events.clone()]));
    let p = pipeline(&single, &seen, 2, &after)
        .with_cache(Setting::On(cache))
        .with_callbacks(Setting::On(callbacks));
    let map = |raws: Vec<i64>| {
        p.map(
            inputs! {"raw" => raws, "k" => 2_i64},
            &s(&["raw"]),
            MapMode::Zip,
            None,
        )
        .unwrap()
    };
    map(vec![1, 2, 3]);
    let count = |what: &str| {
        let all = events.0.lock().unwrap();
        all.iter().filter(|e| *e == what).count()
    };
    assert_eq!(
        (count("item"), count("end scale"), count("end plus")),
        (3, 3, 3)
    );
    events.0.lock().unwrap().clear();
    map(vec![1, 4]);
    assert_eq!(count("item"), 2);
    assert_eq!((count("cached scale"), count("end scale")), (1, 1));
}
