//! `NodeExecutor`'s execution modes: every combination of `node_execution` x `map_execution` gives
//! the results of sequential execution (content and order) on a diamond, zip and product maps and
//! nested maps; threaded nodes overlap; concurrency is bounded by `max_workers` (and reaches it);
//! nested maps share workers by the documented rule unless the nested pipeline has its own
//! executor; the first failing item (by index) is the error; bad settings are rejected.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hypernodes::executor_api::Context;

mod common;
use common::{make_xs_node, total_node};
use hypernodes::{
    inputs, value, AsNode, BoxError, Error, Executor, MapMode, Mode, Node, NodeExecutor, Outputs,
    Pipeline, Port, Typed, Value,
};

const MODES: [Mode; 4] = [
    Mode::Sequential,
    Mode::Threaded,
    Mode::Async,
    Mode::Parallel,
];

/// Tests of this file run one at a time: they measure concurrency (peaks of calls active at once,
/// never durations), and "parallel" maps share rayon pools (one per worker count and map depth)
/// across the process.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn s(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn mapping(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn arg(v: &Value) -> i64 {
    *v.downcast_ref::<i64>().expect("an i64 argument")
}

/// A node taking `i64` parameters and giving one `i64` output computed by `f`.
fn int_node(
    name: &str,
    params: &[&str],
    output: &str,
    f: impl Fn(&[i64]) -> i64 + Send + Sync + 'static,
) -> Node {
    Node::new(
        name,
        params
            .iter()
            .map(|p| Port::new(*p, Typed::<i64>::arc()))
            .collect(),
        vec![Port::new(output, Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            let xs: Vec<i64> = args.iter().map(arg).collect();
            Ok(vec![value(f(&xs))])
        },
    )
    .expect("a valid node")
}

/// A readable, comparable form of a run's outputs, in output order.
fn shown(out: &Outputs) -> Vec<(String, String)> {
    out.iter()
        .map(|(k, v)| {
            let text = if let Some(i) = v.downcast_ref::<i64>() {
                i.to_string()
            } else if let Some(l) = v.downcast_ref::<Vec<i64>>() {
                format!("{l:?}")
            } else {
                panic!("output '{k}' has an unexpected type")
            };
            (k.to_string(), text)
        })
        .collect()
}

fn shown_all(outs: &[Outputs]) -> Vec<Vec<(String, String)>> {
    outs.iter().map(shown).collect()
}

fn int(out: &Outputs, name: &str) -> i64 {
    *out.get::<i64>(name)
        .unwrap_or_else(|| panic!("no i64 output '{name}' in {out:?}"))
}

fn ex(node: Mode, map: Mode, workers: usize) -> NodeExecutor {
    NodeExecutor::new(node, map, Some(workers)).expect("valid settings")
}

fn combos() -> Vec<(Mode, Mode)> {
    MODES
        .iter()
        .flat_map(|&n| MODES.iter().map(move |&m| (n, m)))
        .collect()
}

// ------------------------------------------------------------------------------ pipelines

/// x, k -> a -> (b, c) -> d -> (q, r). Node `a` sleeps longer for lower x so that concurrent items
/// finish out of order.
fn diamond() -> Pipeline {
    let start = int_node("start", &["x", "k"], "a", |v| {
        std::thread::sleep(Duration::from_millis(2 * (3 - v[0].rem_euclid(4)) as u64));
        v[0] + v[1]
    });
    let left = int_node("left", &["a"], "b", |v| v[0] * 2);
    let right = int_node("right", &["a"], "c", |v| v[0] * 3);
    let join = int_node("join", &["b", "c"], "d", |v| v[0] + v[1]);
    let split = Node::new(
        "split",
        vec![Port::new("d", Typed::<i64>::arc())],
        vec![
            Port::new("q", Typed::<i64>::arc()),
            Port::new("r", Typed::<i64>::arc()),
        ],
        |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            let d = arg(&args[0]);
            Ok(vec![value(d.div_euclid(7)), value(d.rem_euclid(7))])
        },
    )
    .unwrap();
    Pipeline::new([split, join, right, left, start])
        .unwrap()
        .with_name("diamond")
}

fn d_of(x: i64, k: i64) -> i64 {
    5 * (x + k)
}

/// n -> xs = [n, n+1, n+2] -> (diamond mapped over xs, k broadcast) -> ds -> total.
fn nested() -> Pipeline {
    nested_with(diamond())
}

fn nested_with(inner: Pipeline) -> Pipeline {
    let make_xs = make_xs_node();
    let total = total_node("ds");
    let inner = inner
        .as_node(AsNode {
            name: Some("inner_map".into()),
            input_mapping: mapping(&[("xs", "x")]),
            output_mapping: Some(mapping(&[("d", "ds"), ("q", "qs")])),
            map_over: s(&["xs"]),
            ..AsNode::default()
        })
        .unwrap();
    Pipeline::new([total, inner, make_xs])
        .unwrap()
        .with_name("outer")
}

// ------------------------------------------------------------------------ identical results

#[test]
fn diamond_run_same_in_every_mode_combination() {
    let _serial = serial();
    let seq = NodeExecutor::default();
    let expected = seq
        .run(&diamond(), inputs! {"x" => 4_i64, "k" => 1_i64}, None)
        .unwrap();
    assert_eq!(int(&expected, "d"), 25);
    assert_eq!((int(&expected, "q"), int(&expected, "r")), (3, 4));
    let selected = s(&["q", "b"]);
    let expected_sel = seq
        .run(
            &diamond(),
            inputs! {"x" => 4_i64, "k" => 1_i64},
            Some(&selected),
        )
        .unwrap();
    assert_eq!(shown(&expected_sel).len(), 2);
    for (n, m) in combos() {
        let e = ex(n, m, 2);
        let got = e
            .run(&diamond(), inputs! {"x" => 4_i64, "k" => 1_i64}, None)
            .unwrap();
        assert_eq!(shown(&got), shown(&expected), "{n:?}/{m:?}");
        let p = diamond().with_executor(Some(Arc::new(e.clone())));
        let got = p.run(inputs! {"x" => 4_i64, "k" => 1_i64}, None).unwrap();
        assert_eq!(
            shown(&got),
            shown(&expected),
            "{n:?}/{m:?} (pipeline's own executor)"
        );
        let got = p
            .run(inputs! {"x" => 4_i64, "k" => 1_i64}, Some(&selected))
            .unwrap();
        assert_eq!(
            shown(&got),
            shown(&expected_sel),
            "{n:?}/{m:?} (selected outputs)"
        );
    }
}

#[test]
fn zip_and_product_maps_same_in_every_mode_combination() {
    let _serial = serial();
    let seq = NodeExecutor::default();
    let zip_inputs = || inputs! {"x" => vec![7_i64, 6, 5, 4, 3, 2, 1, 0], "k" => vec![0_i64, 10, 20, 30, 40, 50, 60, 70]};
    let prod_inputs = || inputs! {"x" => vec![3_i64, 1, 2], "k" => vec![100_i64, 0]};
    let over = s(&["x", "k"]);
    let rev = s(&["k", "x"]);
    let selected = s(&["r", "c"]);
    let zip = seq
        .map(&diamond(), zip_inputs(), &over, MapMode::Zip, None)
        .unwrap();
    let ds: Vec<i64> = zip.iter().map(|o| int(o, "d")).collect();
    assert_eq!(ds, (0..8).map(|i| d_of(7 - i, 10 * i)).collect::<Vec<_>>());
    let prod = seq
        .map(&diamond(), prod_inputs(), &over, MapMode::Product, None)
        .unwrap();
    let a: Vec<i64> = prod.iter().map(|o| int(o, "a")).collect();
    assert_eq!(a, [103, 3, 101, 1, 102, 2]);
    let prod_rev = seq
        .map(&diamond(), prod_inputs(), &rev, MapMode::Product, None)
        .unwrap();
    let a: Vec<i64> = prod_rev.iter().map(|o| int(o, "a")).collect();
    assert_eq!(a, [103, 101, 102, 3, 1, 2]);
    let zip_sel = seq
        .map(
            &diamond(),
            zip_inputs(),
            &over,
            MapMode::Zip,
            Some(&selected),
        )
        .unwrap();

    for (n, m) in combos() {
        let e = ex(n, m, 2);
        let got = e
            .map(&diamond(), zip_inputs(), &over, MapMode::Zip, None)
            .unwrap();
        assert_eq!(shown_all(&got), shown_all(&zip), "zip {n:?}/{m:?}");
        let got = e
            .map(&diamond(), prod_inputs(), &over, MapMode::Product, None)
            .unwrap();
        assert_eq!(shown_all(&got), shown_all(&prod), "product {n:?}/{m:?}");
        let p = diamond().with_executor(Some(Arc::new(e.clone())));
        let got = p.map(prod_inputs(), &rev, MapMode::Product, None).unwrap();
        assert_eq!(
            shown_all(&got),
            shown_all(&prod_rev),
            "product k,x {n:?}/{m:?}"
        );
        let got = p
            .map(zip_inputs(), &over, MapMode::Zip, Some(&selected))
            .unwrap();
        assert_eq!(
            shown_all(&got),
            shown_all(&zip_sel),
            "zip selected {n:?}/{m:?}"
        );
        let empty = e
            .map(
                &diamond(),
                inputs! {"x" => Vec::<i64>::new(), "k" => 1_i64},
                &s(&["x"]),
                MapMode::Zip,
                None,
            )
            .unwrap();
        assert!(empty.is_empty());
    }
}

#[test]
fn nested_maps_same_in_every_mode_combination() {
    let _serial = serial();
    let seq = NodeExecutor::default();
    let ns = || inputs! {"n" => vec![3_i64, 0, 2, 1, 5], "k" => 1_i64};
    let over = s(&["n"]);
    let expected = seq.map(&nested(), ns(), &over, MapMode::Zip, None).unwrap();
    let totals: Vec<i64> = expected.iter().map(|o| int(o, "total")).collect();
    assert_eq!(
        totals,
        [3_i64, 0, 2, 1, 5]
            .iter()
            .map(|&n| (0..3).map(|i| d_of(n + i, 1)).sum())
            .collect::<Vec<i64>>()
    );
    assert_eq!(
        expected[0].get::<Vec<i64>>("ds"),
        Some(&vec![d_of(3, 1), d_of(4, 1), d_of(5, 1)])
    );
    let run_expected = seq
        .run(&nested(), inputs! {"n" => 4_i64, "k" => 0_i64}, None)
        .unwrap();
    for (n, m) in combos() {
        let e = ex(n, m, 4);
        let got = e.map(&nested(), ns(), &over, MapMode::Zip, None).unwrap();
        assert_eq!(
            shown_all(&got),
            shown_all(&expected),
            "nested map {n:?}/{m:?}"
        );
        let p = nested().with_executor(Some(Arc::new(e.clone())));
        let got = p.map(ns(), &over, MapMode::Zip, None).unwrap();
        assert_eq!(
            shown_all(&got),
            shown_all(&expected),
            "nested map, own executor {n:?}/{m:?}"
        );
        let got = p.run(inputs! {"n" => 4_i64, "k" => 0_i64}, None).unwrap();
        assert_eq!(shown(&got), shown(&run_expected), "nested run {n:?}/{m:?}");
        // the inner pipeline with its own executor (these modes) inside a threaded outer map
        let inner = diamond().with_executor(Some(Arc::new(e.clone())));
        let outer = nested_with(inner);
        let got = ex(Mode::Threaded, Mode::Threaded, 2)
            .map(&outer, ns(), &over, MapMode::Zip, None)
            .unwrap();
        assert_eq!(
            shown_all(&got),
            shown_all(&expected),
            "inner own executor {n:?}/{m:?}"
        );
    }
}

// ------------------------------------------------------------------------------ concurrency

/// How long a rendezvous waits at most for the others it expects. Only a failing test (an executor
/// running fewer at once than expected) waits that long: the tests assert on what they observe, never
/// on how long it took.
const PATIENCE: Duration = Duration::from_secs(5);

/// How long a call stays once the expected number of calls are active together: enough for an
/// executor that lets more run at once to start one more (which then shows in the peak).
const STAY: Duration = Duration::from_millis(30);

/// Shared state that threads update and wait on.
#[derive(Default)]
struct Board<T> {
    state: Mutex<T>,
    changed: Condvar,
}

impl<T> Board<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state and wakes the waiters.
    fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.notify_all();
        r
    }

    fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock())
    }

    /// Waits until `done` holds or `PATIENCE` has passed; whether it holds.
    fn wait_until(&self, done: impl Fn(&T) -> bool) -> bool {
        let deadline = Instant::now() + PATIENCE;
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[derive(Default)]
struct Count {
    active: usize,
    peak: usize,
    /// `target` calls were active together (or a call waited `PATIENCE` for that).
    met: bool,
    finished: usize,
}

/// Counts the calls active at once and remembers the peak.
///
/// Holding the gauge is a rendezvous: a call waits until `target` calls are active together (or
/// `PATIENCE` has passed), then stays `STAY`. So an executor running `target` calls at once shows a
/// peak of exactly `target` however late its threads get scheduled, one running fewer shows less
/// (after `PATIENCE`) and one running more shows more. Once the target has been met (or waited out)
/// calls no longer wait: the last items of a map, fewer than `target`, just stay `STAY`.
struct Gauge {
    target: usize,
    count: Board<Count>,
}

impl Gauge {
    fn new(target: usize) -> Self {
        assert!(target >= 1);
        Self {
            target,
            count: Board::default(),
        }
    }

    /// Counts a call in, then waits for the rendezvous.
    fn enter(&self) {
        let target = self.target;
        self.count.update(|c| {
            c.active += 1;
            c.peak = c.peak.max(c.active);
            c.met |= c.active >= target;
        });
        if !self.count.wait_until(|c| c.met) {
            // waited out: the others need not wait too
            self.count.update(|c| c.met = true);
        }
    }

    fn leave(&self) {
        self.count.update(|c| {
            c.active -= 1;
            c.finished += 1;
        });
    }

    fn hold(&self) {
        self.enter();
        std::thread::sleep(STAY);
        self.leave();
    }

    fn peak(&self) -> usize {
        self.count.read(|c| c.peak)
    }

    /// Waits until `n` calls have finished (or `PATIENCE` has passed).
    fn wait_finished(&self, n: usize) {
        self.count.wait_until(|c| c.finished >= n);
    }
}

/// An independent node n{i}: x -> o{i}, holding `gauge`.
fn sleeper(i: i64, gauge: &Arc<Gauge>) -> Node {
    let gauge = gauge.clone();
    int_node(&format!("n{i}"), &["x"], &format!("o{i}"), move |v| {
        gauge.hold();
        v[0] + i
    })
}

#[test]
fn two_sleeping_nodes_overlap_unless_sequential() {
    let _serial = serial();
    for mode in MODES {
        let expected = if mode == Mode::Sequential { 1 } else { 2 };
        let gauge = Arc::new(Gauge::new(expected));
        let p = Pipeline::new([sleeper(0, &gauge), sleeper(1, &gauge)]).unwrap();
        let out = ex(mode, Mode::Sequential, 4)
            .run(&p, inputs! {"x" => 1_i64}, None)
            .unwrap();
        assert_eq!((int(&out, "o0"), int(&out, "o1")), (1, 2));
        assert_eq!(gauge.peak(), expected, "{mode:?}: nodes active at once");
    }
}

#[test]
fn node_peak_reaches_and_never_exceeds_max_workers() {
    let _serial = serial();
    for mode in [Mode::Threaded, Mode::Async, Mode::Parallel] {
        for workers in [2, 3] {
            let gauge = Arc::new(Gauge::new(workers));
            let p = Pipeline::new((0..7).map(|i| sleeper(i, &gauge))).unwrap();
            let out = ex(mode, Mode::Sequential, workers)
                .run(&p, inputs! {"x" => 0_i64}, None)
                .unwrap();
            assert_eq!(out.len(), 7);
            assert_eq!(gauge.peak(), workers, "{mode:?} at {workers} workers");
        }
    }
}

#[test]
fn map_peak_reaches_and_never_exceeds_max_workers() {
    let _serial = serial();
    for mode in [Mode::Threaded, Mode::Async, Mode::Parallel] {
        for workers in [2, 3, 8] {
            let gauge = Arc::new(Gauge::new(workers));
            let p = Pipeline::new([sleeper(0, &gauge)]).unwrap();
            let xs: Vec<i64> = (0..16).collect();
            let out = ex(Mode::Sequential, mode, workers)
                .map(
                    &p,
                    inputs! {"x" => xs.clone()},
                    &s(&["x"]),
                    MapMode::Zip,
                    None,
                )
                .unwrap();
            assert_eq!(out.iter().map(|o| int(o, "o0")).collect::<Vec<_>>(), xs);
            assert_eq!(gauge.peak(), workers, "{mode:?} at {workers} workers");
        }
    }
}

#[test]
fn sequential_map_runs_one_item_at_a_time() {
    let _serial = serial();
    let gauge = Arc::new(Gauge::new(1));
    let p = Pipeline::new([sleeper(0, &gauge)]).unwrap();
    ex(Mode::Threaded, Mode::Sequential, 8)
        .map(
            &p,
            inputs! {"x" => vec![1_i64, 2, 3, 4]},
            &s(&["x"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    assert_eq!(gauge.peak(), 1);
}

#[test]
fn nodes_start_eagerly_without_a_level_barrier() {
    let _serial = serial();
    let log = Arc::new(Board::<Vec<&'static str>>::default());
    let l = log.clone();
    // `slow` finishes only once `after_fast` has run: with a level barrier (after_fast waiting for
    // slow) it gives up after `PATIENCE` and the log shows "slow done" first.
    let slow = int_node("slow", &["x"], "s", move |v| {
        l.wait_until(|log| log.contains(&"after_fast"));
        l.update(|log| log.push("slow done"));
        v[0]
    });
    let l = log.clone();
    let fast = int_node("fast", &["x"], "f", move |v| {
        l.update(|log| log.push("fast done"));
        v[0]
    });
    let l = log.clone();
    let after_fast = int_node("after_fast", &["f"], "af", move |v| {
        l.update(|log| log.push("after_fast"));
        v[0]
    });
    let l = log.clone();
    let after_slow = int_node("after_slow", &["s"], "as", move |v| {
        l.update(|log| log.push("after_slow"));
        v[0]
    });
    let p = Pipeline::new([slow, fast, after_fast, after_slow]).unwrap();
    ex(Mode::Threaded, Mode::Sequential, 2)
        .run(&p, inputs! {"x" => 1_i64}, None)
        .unwrap();
    let log = log.read(|log| log.clone());
    let at = |e: &str| log.iter().position(|x| *x == e).unwrap();
    assert!(at("after_fast") < at("slow done"), "{log:?}");
    assert!(at("slow done") < at("after_slow"), "{log:?}");
}

// ------------------------------------------------------------------------ nested worker rule

/// One gauge per group (outer item), each with the same target.
struct Gauges {
    target: usize,
    by_group: Mutex<HashMap<i64, Arc<Gauge>>>,
}

impl Gauges {
    fn new(target: usize) -> Arc<Self> {
        Arc::new(Self {
            target,
            by_group: Mutex::default(),
        })
    }
    fn get(&self, group: i64) -> Arc<Gauge> {
        self.by_group
            .lock()
            .unwrap()
            .entry(group)
            .or_insert_with(|| Arc::new(Gauge::new(self.target)))
            .clone()
    }
    fn peaks(&self) -> BTreeMap<i64, usize> {
        self.by_group
            .lock()
            .unwrap()
            .iter()
            .map(|(k, g)| (*k, g.peak()))
            .collect()
    }
}

/// inner: (x, group) -> y, counted per group. Mapped over x, exposing ys.
fn counted_inner(gauges: &Arc<Gauges>, own: Option<NodeExecutor>) -> Node {
    let g = gauges.clone();
    let work = int_node("work", &["x", "group"], "y", move |v| {
        g.get(v[1]).hold();
        v[0] * 10
    });
    let inner = Pipeline::new([work]).unwrap().with_name("inner");
    let inner = match own {
        Some(e) => inner.with_executor(Some(Arc::new(e))),
        None => inner,
    };
    inner
        .as_node(AsNode {
            name: Some("inner_map".into()),
            output_mapping: Some(mapping(&[("y", "ys")])),
            map_over: s(&["x"]),
            ..AsNode::default()
        })
        .unwrap()
}

/// group -> x = [0, 1, ..., n-1]
fn items_node(n: i64) -> Node {
    groups_items_node(n, None)
}

/// group -> x = [0, 1, ..., n-1]; with `turns`, group g > 0 first waits until the n items of group
/// g - 1 have finished (their `turns` gauge), so that the groups' nested maps run one after another.
///
/// Under "parallel", nested maps of the same width and depth share one rayon pool, so sibling nested
/// maps running at once split its threads between them: a nested map reaches its width only while it
/// has the pool to itself. The outer items still run concurrently; only their nested maps take turns.
fn groups_items_node(n: i64, turns: Option<Arc<Gauges>>) -> Node {
    Node::new(
        "items",
        vec![Port::new("group", Typed::<i64>::arc())],
        vec![Port::new("x", Typed::<Vec<i64>>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            let group = arg(&args[0]);
            if let Some(turns) = &turns {
                if group > 0 {
                    turns.get(group - 1).wait_finished(n as usize);
                }
            }
            Ok(vec![value((0..n).collect::<Vec<i64>>())])
        },
    )
    .unwrap()
}

/// `Some(gauges)` under "parallel" (see `groups_items_node`).
fn turns_if_parallel(mode: Mode, gauges: &Arc<Gauges>) -> Option<Arc<Gauges>> {
    (mode == Mode::Parallel).then(|| gauges.clone())
}

#[test]
fn nested_map_at_depth_1_gets_isqrt_workers() {
    let _serial = serial();
    for mode in [Mode::Threaded, Mode::Async, Mode::Parallel] {
        let gauges = Gauges::new(2);
        let p = Pipeline::new([
            groups_items_node(6, turns_if_parallel(mode, &gauges)),
            counted_inner(&gauges, None),
        ])
        .unwrap();
        let out = ex(Mode::Sequential, mode, 4)
            .map(
                &p,
                inputs! {"group" => vec![0_i64, 1, 2]},
                &s(&["group"]),
                MapMode::Zip,
                None,
            )
            .unwrap();
        for o in &out {
            assert_eq!(o.get::<Vec<i64>>("ys"), Some(&vec![0, 10, 20, 30, 40, 50]));
        }
        assert_eq!(
            gauges.peaks(),
            BTreeMap::from([(0, 2), (1, 2), (2, 2)]),
            "{mode:?}"
        );
    }
}

#[test]
fn nested_map_with_its_own_executor_gets_exactly_its_workers() {
    let _serial = serial();
    for mode in [Mode::Threaded, Mode::Async, Mode::Parallel] {
        let gauges = Gauges::new(4);
        let own = ex(Mode::Sequential, mode, 4);
        let p = Pipeline::new([
            groups_items_node(8, turns_if_parallel(mode, &gauges)),
            counted_inner(&gauges, Some(own)),
        ])
        .unwrap();
        ex(Mode::Sequential, mode, 4)
            .map(
                &p,
                inputs! {"group" => vec![0_i64, 1]},
                &s(&["group"]),
                MapMode::Zip,
                None,
            )
            .unwrap();
        assert_eq!(gauges.peaks(), BTreeMap::from([(0, 4), (1, 4)]), "{mode:?}");
    }
}

#[test]
fn nested_map_at_depth_0_gets_all_workers() {
    let _serial = serial();
    let gauges = Gauges::new(4);
    let p = Pipeline::new([counted_inner(&gauges, None)]).unwrap();
    let out = ex(Mode::Sequential, Mode::Threaded, 4)
        .run(
            &p,
            inputs! {"x" => (0..8).collect::<Vec<i64>>(), "group" => 7_i64},
            None,
        )
        .unwrap();
    assert_eq!(out.get::<Vec<i64>>("ys").map(Vec::len), Some(8));
    assert_eq!(gauges.peaks(), BTreeMap::from([(7, 4)]));
}

#[test]
fn nested_map_at_depth_2_runs_sequentially() {
    let _serial = serial();
    let gauges = Gauges::new(1);
    // middle: sub -> group = 10 * outer + sub; items(group) -> x; inner mapped over x.
    let label = int_node("label", &["outer_id", "sub"], "group", |v| 10 * v[0] + v[1]);
    let middle = Pipeline::new([label, items_node(4), counted_inner(&gauges, None)])
        .unwrap()
        .with_name("middle")
        .as_node(AsNode {
            name: Some("middle_map".into()),
            output_mapping: Some(mapping(&[("ys", "yss")])),
            map_over: s(&["sub"]),
            ..AsNode::default()
        })
        .unwrap();
    let subs = Node::new(
        "subs",
        vec![Port::new("outer_id", Typed::<i64>::arc())],
        vec![Port::new("sub", Typed::<Vec<i64>>::arc())],
        |_a: Vec<Value>| -> Result<Vec<Value>, BoxError> { Ok(vec![value(vec![0_i64, 1])]) },
    )
    .unwrap();
    let p = Pipeline::new([subs, middle]).unwrap();
    ex(Mode::Sequential, Mode::Threaded, 4)
        .map(
            &p,
            inputs! {"outer_id" => vec![1_i64, 2]},
            &s(&["outer_id"]),
            MapMode::Zip,
            None,
        )
        .unwrap();
    assert_eq!(
        gauges.peaks(),
        BTreeMap::from([(10, 1), (11, 1), (20, 1), (21, 1)])
    );
}

#[test]
fn map_workers_follow_the_rule() {
    let _serial = serial();
    let p = diamond();
    for (max, items, depth0, depth1) in [
        (9, 100, 9, 3),
        (9, 2, 2, 2),
        (4, 100, 4, 2),
        (3, 100, 3, 1),
        (1, 5, 1, 1),
        (16, 3, 3, 3),
    ] {
        let e = ex(Mode::Sequential, Mode::Threaded, max);
        let root = Context::root(&p, e.shared());
        let inherited = |c: &Context| c.nested(&p, e.shared(), false);
        let own = |c: &Context| c.nested(&p, e.shared(), true);
        let d1 = inherited(&root.map_item(0));
        let d2 = inherited(&d1.map_item(0));
        assert_eq!(
            e.map_workers(items, &root),
            depth0,
            "max {max}, {items} items, depth 0"
        );
        assert_eq!(
            e.map_workers(items, &inherited(&root)),
            depth0,
            "max {max}, nested run, depth 0"
        );
        assert_eq!(
            e.map_workers(items, &d1),
            depth1,
            "max {max}, {items} items, depth 1"
        );
        assert_eq!(e.map_workers(items, &d2), 1, "max {max}, depth 2");
        assert_eq!(
            e.map_workers(items, &own(&d2.map_item(0))),
            depth0,
            "own executor, depth 3"
        );
    }
    let e = ex(Mode::Sequential, Mode::Threaded, 4);
    assert_eq!(e.map_workers(0, &Context::root(&p, e.shared())), 1);
}

// ----------------------------------------------------------------------------------- errors

#[derive(Debug)]
struct ItemError(i64);

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {} failed", self.0)
    }
}

impl std::error::Error for ItemError {}

#[derive(Default)]
struct Checks {
    started: usize,
    failed: Vec<i64>,
}

/// Fails for x in `bad`. With `together` > 1 (a map running its `together` items at once), every
/// item first waits until all have started, and a failing item fails only once the failing items after
/// it (by index) have failed: item 5 fails first in time but item 2 comes first by index.
fn checker(bad: &'static [i64], together: usize) -> Pipeline {
    let checks = Arc::new(Board::<Checks>::default());
    let node = Node::new(
        "checker",
        vec![Port::new("x", Typed::<i64>::arc())],
        vec![Port::new("y", Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            let x = arg(&args[0]);
            if together > 1 {
                checks.update(|c| c.started += 1);
                checks.wait_until(|c| c.started >= together);
                if bad.contains(&x) {
                    checks.wait_until(|c| {
                        bad.iter().filter(|&&b| b > x).all(|b| c.failed.contains(b))
                    });
                }
            }
            if bad.contains(&x) {
                checks.update(|c| c.failed.push(x));
                return Err(Box::new(ItemError(x)));
            }
            Ok(vec![value(x)])
        },
    )
    .unwrap();
    Pipeline::new([node]).unwrap().with_name("checking")
}

#[test]
fn the_first_failing_item_by_index_is_the_error() {
    let _serial = serial();
    for mode in MODES {
        // 6 workers: a concurrent map runs its 6 items at once
        let at_once = |items: usize| if mode == Mode::Sequential { 1 } else { items };
        let err = ex(Mode::Sequential, mode, 6)
            .map(
                &checker(&[2, 5], at_once(6)),
                inputs! {"x" => (0..6).collect::<Vec<i64>>()},
                &s(&["x"]),
                MapMode::Zip,
                None,
            )
            .unwrap_err();
        match &err {
            Error::Node {
                node, path, source, ..
            } => {
                assert_eq!(node, "checker", "{mode:?}");
                assert_eq!(path, &s(&["checking"]), "{mode:?}");
                let item = source
                    .downcast_ref::<ItemError>()
                    .expect("the node's own error");
                assert_eq!(item.0, 2, "{mode:?}: {err}");
            }
            other => panic!("{mode:?}: expected a node error, got {other:?}"),
        }
        assert!(err.to_string().contains("item 2 failed"), "{err}");
        assert!(err.to_string().contains("checker"), "{err}");
        // the executor stays usable
        let ok = ex(Mode::Sequential, mode, 6)
            .map(
                &checker(&[], at_once(2)),
                inputs! {"x" => vec![0_i64, 1]},
                &s(&["x"]),
                MapMode::Zip,
                None,
            )
            .unwrap();
        assert_eq!(ok.iter().map(|o| int(o, "y")).collect::<Vec<_>>(), [0, 1]);
    }
}

#[test]
fn an_error_in_a_concurrent_node_is_returned() {
    let _serial = serial();
    for mode in MODES {
        let bad = int_node("ok", &["x"], "a", |v| v[0]);
        let failing = Node::new(
            "boom",
            vec![Port::new("x", Typed::<i64>::arc())],
            vec![Port::new("b", Typed::<i64>::arc())],
            |_a: Vec<Value>| -> Result<Vec<Value>, BoxError> { Err(Box::new(ItemError(-1))) },
        )
        .unwrap();
        let p = Pipeline::new([bad, failing]).unwrap().with_name("two");
        let err = ex(mode, Mode::Sequential, 4)
            .run(&p, inputs! {"x" => 1_i64}, None)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Node { node, .. } if node == "boom"),
            "{mode:?}: {err:?}"
        );
    }
}

#[test]
fn a_failing_item_stops_new_items_from_starting() {
    let _serial = serial();
    let started = Arc::new(AtomicUsize::new(0));
    let item_0_failed = Arc::new(Board::<bool>::default());
    let (st, failed) = (started.clone(), item_0_failed.clone());
    // Item 0 fails at once; the others wait for that failure (however late item 0 gets scheduled),
    // then take 20 ms more: the executor knows of the failure long before they finish.
    let node = Node::new(
        "early_fail",
        vec![Port::new("x", Typed::<i64>::arc())],
        vec![Port::new("y", Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            st.fetch_add(1, Ordering::SeqCst);
            let x = arg(&args[0]);
            if x == 0 {
                failed.update(|f| *f = true);
                return Err(Box::new(ItemError(0)));
            }
            failed.wait_until(|f| *f);
            std::thread::sleep(Duration::from_millis(20));
            Ok(vec![value(x)])
        },
    )
    .unwrap();
    let p = Pipeline::new([node]).unwrap();
    for mode in MODES {
        started.store(0, Ordering::SeqCst);
        item_0_failed.update(|f| *f = false);
        let res = ex(Mode::Sequential, mode, 2).map(
            &p,
            inputs! {"x" => (0..40).collect::<Vec<i64>>()},
            &s(&["x"]),
            MapMode::Zip,
            None,
        );
        assert!(res.is_err());
        assert!(
            started.load(Ordering::SeqCst) < 10,
            "{mode:?}: {} items started",
            started.load(Ordering::SeqCst)
        );
    }
}

// --------------------------------------------------------------------------------- settings

#[test]
fn modes_parse_from_their_names_and_back() {
    let _serial = serial();
    for mode in MODES {
        assert_eq!(mode.as_str().parse::<Mode>().unwrap(), mode);
    }
    assert_eq!("sequential".parse::<Mode>().unwrap(), Mode::Sequential);
    assert_eq!("threaded".parse::<Mode>().unwrap(), Mode::Threaded);
    assert_eq!("async".parse::<Mode>().unwrap(), Mode::Async);
    assert_eq!("parallel".parse::<Mode>().unwrap(), Mode::Parallel);
    assert_eq!(Mode::default(), Mode::Sequential);
}

#[test]
fn unknown_modes_are_rejected() {
    let _serial = serial();
    for bad in [
        "",
        "threads",
        "rayon",
        "tokio",
        "multiprocessing",
        "Threaded ",
    ] {
        match bad.parse::<Mode>() {
            Err(Error::Config(msg)) => {
                assert!(msg.contains(&format!("'{bad}'")), "{msg}");
                assert!(
                    msg.contains("sequential") && msg.contains("parallel"),
                    "{msg}"
                );
            }
            other => panic!("'{bad}': expected a configuration error, got {other:?}"),
        }
    }
}

#[test]
fn max_workers_zero_is_rejected() {
    let _serial = serial();
    for (n, m) in combos() {
        match NodeExecutor::new(n, m, Some(0)) {
            Err(Error::Config(msg)) => assert!(msg.contains("max_workers"), "{msg}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
    let one = NodeExecutor::new(Mode::Threaded, Mode::Parallel, Some(1)).unwrap();
    assert_eq!(one.max_workers(), 1);
    assert_eq!(
        (one.node_execution(), one.map_execution()),
        (Mode::Threaded, Mode::Parallel)
    );
}

#[test]
fn max_workers_defaults_to_the_cpu_count() {
    let _serial = serial();
    let e = NodeExecutor::new(Mode::Threaded, Mode::Threaded, None).unwrap();
    assert_eq!(e.max_workers_setting(), None);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(e.max_workers(), cpus);
    assert_eq!(hypernodes::cpu_count(), cpus);
    assert_eq!(NodeExecutor::default().max_workers(), cpus);
}

#[test]
fn executor_is_usable_as_a_trait_object() {
    let _serial = serial();
    let shared: Arc<dyn Executor> = Arc::new(ex(Mode::Threaded, Mode::Parallel, 2));
    let out = shared
        .map(
            &diamond(),
            inputs! {"x" => vec![1_i64, 2], "k" => 0_i64},
            &s(&["x"]),
            MapMode::Zip,
            Some(&s(&["d"])),
        )
        .unwrap();
    assert_eq!(out.iter().map(|o| int(o, "d")).collect::<Vec<_>>(), [5, 10]);
    assert_eq!(
        shown(
            &shared
                .run(
                    &diamond(),
                    inputs! {"x" => 2_i64, "k" => 1_i64},
                    Some(&s(&["q"]))
                )
                .unwrap()
        ),
        [("q".to_string(), "2".to_string())]
    );
}

#[test]
fn outer_items_in_flight_stay_bounded_when_inner_maps_have_their_own_executor() {
    let _serial = serial();
    let work = int_node("work", &["x", "group"], "y", |v| {
        std::thread::sleep(Duration::from_millis(20));
        v[0]
    });
    for (outer_mode, inner_mode) in [
        (Mode::Parallel, Mode::Parallel),
        (Mode::Threaded, Mode::Parallel),
        (Mode::Parallel, Mode::Threaded),
    ] {
        // An outer item (a group) is in flight from its first node to its last, its inner map's work
        // in between; the first ones wait for each other to be in flight together.
        let in_flight = Arc::new(Gauge::new(2));
        let g = in_flight.clone();
        let items = Node::new(
            "items",
            vec![Port::new("group", Typed::<i64>::arc())],
            vec![Port::new("x", Typed::<Vec<i64>>::arc())],
            move |_args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
                g.enter();
                Ok(vec![value((0..6).collect::<Vec<i64>>())])
            },
        )
        .unwrap();
        let g = in_flight.clone();
        let finish = Node::new(
            "finish",
            vec![Port::new("ys", Typed::<Vec<i64>>::arc())],
            vec![Port::new("n", Typed::<i64>::arc())],
            move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
                let n = args[0].downcast_ref::<Vec<i64>>().unwrap().len() as i64;
                g.leave();
                Ok(vec![value(n)])
            },
        )
        .unwrap();
        let inner = Pipeline::new([work.clone()])
            .unwrap()
            .with_name("inner")
            .with_executor(Some(Arc::new(ex(Mode::Sequential, inner_mode, 3))))
            .as_node(AsNode {
                name: Some("inner_map".into()),
                output_mapping: Some(mapping(&[("y", "ys")])),
                map_over: s(&["x"]),
                ..AsNode::default()
            })
            .unwrap();
        let p = Pipeline::new([items, inner, finish]).unwrap();
        let out = ex(Mode::Sequential, outer_mode, 2)
            .map(
                &p,
                inputs! {"group" => (0..8).collect::<Vec<i64>>()},
                &s(&["group"]),
                MapMode::Zip,
                None,
            )
            .unwrap();
        assert_eq!(out.iter().map(|o| int(o, "n")).collect::<Vec<_>>(), [6; 8]);
        // the outer map has 2 workers: at most (and at some point exactly) 2 outer items in flight
        assert_eq!(in_flight.peak(), 2, "{outer_mode:?}/{inner_mode:?}");
    }
}

/// Threaded runs reuse the engine's worker threads instead of starting threads for every run, and a
/// node's panic reaches the caller (after the other nodes finished) instead of hanging the run.
mod pool {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use hypernodes::{
        inputs, value, BoxError, Mode, Node, NodeExecutor, Pipeline, Port, Typed, Value,
    };

    fn fan_out(threads: Arc<Mutex<BTreeSet<String>>>, panic_in: Option<&'static str>) -> Pipeline {
        let nodes = ["a", "b", "c"].map(|name| {
            let threads = threads.clone();
            Node::new(
                name,
                vec![Port::new("x", Typed::<i64>::arc())],
                vec![Port::new(format!("out_{name}"), Typed::<i64>::arc())],
                move |a: Vec<Value>| -> Result<Vec<Value>, BoxError> {
                    if panic_in == Some(name) {
                        panic!("node {name} panics");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    let t = std::thread::current();
                    threads
                        .lock()
                        .unwrap()
                        .insert(t.name().unwrap_or("unnamed").to_string());
                    Ok(vec![value(*a[0].downcast_ref::<i64>().unwrap() + 1)])
                },
            )
            .unwrap()
        });
        let exec = NodeExecutor::new(Mode::Threaded, Mode::Sequential, Some(3)).unwrap();
        Pipeline::new(nodes)
            .unwrap()
            .with_executor(Some(Arc::new(exec)))
    }

    #[test]
    fn threaded_runs_reuse_worker_threads() {
        let threads = Arc::new(Mutex::new(BTreeSet::new()));
        let p = fan_out(threads.clone(), None);
        for _ in 0..30 {
            let out = p.run(inputs! {"x" => 1_i64}, None).unwrap();
            assert_eq!(out.get::<i64>("out_c"), Some(&2));
        }
        let seen = threads.lock().unwrap().clone();
        // 30 runs of 3 concurrent nodes: 90 node calls on a handful of reused threads
        assert!(seen.len() <= 12, "{seen:?}");
        assert!(
            seen.iter().any(|n| n.starts_with("hypernodes-worker-")),
            "{seen:?}"
        );
    }

    #[test]
    fn a_panicking_node_in_a_threaded_run_panics_the_caller() {
        let p = fan_out(Arc::new(Mutex::new(BTreeSet::new())), Some("b"));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            p.run(inputs! {"x" => 1_i64}, None)
        }));
        let payload = r.expect_err("the panic reaches the caller");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(msg.contains("node b panics"), "{msg}");
    }
}
