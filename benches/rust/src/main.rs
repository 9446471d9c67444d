//! Overhead of the HyperNodes engine for Rust nodes. Prints one JSON object (times in seconds),
//! in the same shape as the Python benchmark's results:
//!
//! - `run`: one run of a 10-node chain `x0 -> x1 -> ... -> x10` of trivial nodes (`x + 1` on `i64`),
//!   against calling the same closures directly, one after another, with the same `Vec<Value>`
//!   arguments. Overhead per node call = (time per run - time of the direct calls) / 10.
//! - `map`: the same chain mapped over 2,000 values of `x0`, against 2,000 direct chains.
//! - `build`: declaring 10,000 chained nodes (`Node::new`) and building the pipeline (`Pipeline::new`,
//!   which validates it: duplicate outputs, cycles, types).
//!
//! Nodes are built with `Node::new` and closures, not the `#[node]` macro, so that the benchmark
//! measures the engine alone. `--quick` shortens everything (for smoke tests).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use hypernodes::{inputs, value, Inputs, MapMode, NodeFn, Pipeline};

mod chain;
mod timing;
use chain::chain;

const CHAIN: usize = 10;
const MAP_ITEMS: usize = 2_000;
const BUILD_NODES: usize = 10_000;

/// The chain called by hand: the same closures, the same argument vectors.
fn direct(funcs: &[Arc<dyn NodeFn>], x0: i64) -> i64 {
    let mut args = vec![value(x0)];
    for f in funcs {
        args = f.call(args).expect("node call");
    }
    *args[0].downcast_ref::<i64>().expect("i64")
}

/// Seconds per call of `f`: `repeat` samples, each the mean over `number` calls.
fn sample(mut f: impl FnMut(), number: usize, repeat: usize) -> Vec<f64> {
    (0..repeat)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..number {
                f();
            }
            t0.elapsed().as_secs_f64() / number as f64
        })
        .collect()
}

struct Stats {
    median: f64,
    best: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Stats { median, best: v[0] }
}

impl Stats {
    fn json(&self) -> String {
        format!(
            "{{\"median\": {:e}, \"best\": {:e}}}",
            self.median, self.best
        )
    }
    fn overhead(&self, direct: &Stats, calls: usize) -> Stats {
        Stats {
            median: (self.median - direct.median) / calls as f64,
            best: (self.best - direct.best) / calls as f64,
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let repeat = if quick { 3 } else { 7 };
    let target = if quick { 0.02 } else { 0.2 };
    let last = format!("x{CHAIN}");

    // (a) run
    let (funcs, nodes) = chain(CHAIN);
    let pipeline = Pipeline::new(nodes).expect("valid pipeline");
    let run = |x0: i64| -> i64 {
        let out = pipeline.run(inputs! {"x0" => x0}, None).expect("run");
        *out.get::<i64>(&last).expect("last output")
    };
    assert_eq!(run(1), 1 + CHAIN as i64, "run computes the chain");
    assert_eq!(direct(&funcs, 1), 1 + CHAIN as i64);
    let n_direct = timing::calibrate(
        || {
            black_box(direct(&funcs, black_box(1)));
        },
        target,
    );
    let n_run = timing::calibrate(
        || {
            black_box(run(black_box(1)));
        },
        target,
    );
    let direct_s = stats(sample(
        || {
            black_box(direct(&funcs, black_box(1)));
        },
        n_direct,
        repeat,
    ));
    let run_s = stats(sample(
        || {
            black_box(run(black_box(1)));
        },
        n_run,
        repeat,
    ));
    let run_json = format!(
        "{{\"nodes\": {CHAIN}, \"direct_s\": {}, \"run_s\": {}, \"overhead_per_node_s\": {}}}",
        direct_s.json(),
        run_s.json(),
        run_s.overhead(&direct_s, CHAIN).json()
    );

    // (b) map
    let items = if quick { 200 } else { MAP_ITEMS };
    let xs: Vec<i64> = (0..items as i64).collect();
    let map_over = vec!["x0".to_string()];
    let map = || -> Vec<i64> {
        let mut inputs = Inputs::new();
        inputs.insert("x0".to_string(), value(xs.clone()));
        let outs = pipeline
            .map(inputs, &map_over, MapMode::Zip, None)
            .expect("map");
        outs.iter()
            .map(|o| *o.get::<i64>(&last).expect("last output"))
            .collect()
    };
    let expected: Vec<i64> = xs.iter().map(|x| x + CHAIN as i64).collect();
    assert_eq!(map(), expected, "map computes the chain per item");
    let by_hand = || -> Vec<i64> { xs.iter().map(|&x| direct(&funcs, x)).collect() };
    let n_direct = timing::calibrate(
        || {
            black_box(by_hand());
        },
        target,
    );
    let n_map = timing::calibrate(
        || {
            black_box(map());
        },
        target,
    );
    let direct_s = stats(sample(
        || {
            black_box(by_hand());
        },
        n_direct,
        repeat,
    ));
    let map_s = stats(sample(
        || {
            black_box(map());
        },
        n_map,
        repeat,
    ));
    let map_json = format!(
        "{{\"nodes\": {CHAIN}, \"items\": {items}, \"direct_s\": {}, \"map_s\": {}, \"overhead_per_node_call_s\": {}}}",
        direct_s.json(),
        map_s.json(),
        map_s.overhead(&direct_s, CHAIN * items).json()
    );

    // (c) build
    let n_build = if quick { 1_000 } else { BUILD_NODES };
    let mut declare = Vec::new();
    let mut build = Vec::new();
    for _ in 0..repeat.min(5) {
        let t0 = Instant::now();
        let (_, nodes) = chain(n_build);
        let t1 = Instant::now();
        let p = Pipeline::new(nodes).expect("valid pipeline");
        let t2 = Instant::now();
        black_box(&p);
        declare.push((t1 - t0).as_secs_f64());
        build.push((t2 - t1).as_secs_f64());
        drop(p);
    }
    let build_json = format!(
        "{{\"nodes\": {n_build}, \"target_nodes\": {n_build}, \"complete\": true, \"declare_s\": {}, \"build_s\": {}}}",
        stats(declare).json(),
        stats(build).json()
    );

    println!("{{\"impl\": \"hypernodes (Rust)\", \"run\": {run_json}, \"map\": {map_json}, \"build\": {build_json}}}");
}
