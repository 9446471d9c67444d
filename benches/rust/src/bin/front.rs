//! The Rust front's costs (issue 17). Prints one JSON object (times in seconds), with ratios against
//! baselines measured in the same process and each goal's verdict (`"met": true/false`):
//!
//! - `clone`: ten `#[node]` consumers of one 1 MiB `Vec<u8>` input, one run each: parameters taken as
//!   `Vec<u8>` (a clone per node), as `&Vec<u8>` (shared, no clone), and the hand-written baseline,
//!   `Arc<Vec<u8>>` parameters. Goal: `&Vec<u8>` within 2x of the `Arc` version.
//! - `threaded`: a 10-node chain of trivial nodes (`x + 1`) run with `node_execution` "threaded"
//!   (and "async"), against the same closures called directly. Goal: at most 2 µs per node call.
//!   For the record (no goal): ten independent nodes (a fan-out) sequential and threaded, where
//!   "threaded" hands nodes to the worker pool.
//! - `callbacks`: a 10-node chain mapped over 2,000 items with `map_execution` "parallel", with no
//!   callback, a no-op callback, and a no-op callback that says it is `concurrent`; the overhead per
//!   node call against the run without callbacks. Goal: with the concurrent no-op callback, the
//!   parallel map is not slower than the sequential map with a no-op callback.
//!
//! `--quick` shortens everything (for smoke tests).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use hypernodes::executor_api::Context;
use hypernodes::{
    inputs, node, value, Callback, Callbacks, Event, Inputs, MapMode, Mode, Node, NodeExecutor,
    NodeFn, Pipeline, Port, Setting, Typed, Value,
};

#[path = "../chain.rs"]
mod chain;
#[path = "../timing.rs"]
mod timing;
use chain::add_one;

const MIB: usize = 1 << 20;
const CHAIN: usize = 10;

/// Seconds per call of `f`: the median and the best of `repeat` samples, each the mean over a number
/// of calls that takes about `target` seconds.
fn time(mut f: impl FnMut(), target: f64, repeat: usize) -> (f64, f64) {
    let number = timing::calibrate(&mut f, target);
    let mut v: Vec<f64> = (0..repeat)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..number {
                f();
            }
            t0.elapsed().as_secs_f64() / number as f64
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    (v[v.len() / 2], v[0])
}

/// [`time`] of a run of `p` with `x0 = 1`.
fn time_run(p: &Pipeline, target: f64, repeat: usize) -> (f64, f64) {
    time(
        || {
            drop(black_box(
                p.run(inputs! {"x0" => 1_i64}, None).expect("run"),
            ))
        },
        target,
        repeat,
    )
}

fn json((median, best): (f64, f64)) -> String {
    format!("{{\"median\": {median:e}, \"best\": {best:e}}}")
}

macro_rules! consumers {
    ($($owned:ident $borrowed:ident $shared:ident),*) => {
        $(
            #[node]
            fn $owned(buf: Vec<u8>) -> usize {
                buf.len()
            }
            #[node]
            fn $borrowed(buf: &Vec<u8>) -> usize {
                buf.len()
            }
            #[node]
            fn $shared(buf: Arc<Vec<u8>>) -> usize {
                buf.len()
            }
        )*
        fn owned_nodes() -> Vec<Node> { vec![$($owned::node()),*] }
        fn borrowed_nodes() -> Vec<Node> { vec![$($borrowed::node()),*] }
        fn shared_nodes() -> Vec<Node> { vec![$($shared::node()),*] }
    };
}

consumers!(
    o0 b0 s0, o1 b1 s1, o2 b2 s2, o3 b3 s3, o4 b4 s4, o5 b5 s5, o6 b6 s6, o7 b7 s7, o8 b8 s8,
    o9 b9 s9
);

fn clone_bench(target: f64, repeat: usize) -> String {
    let run = |nodes: Vec<Node>, input: Value| {
        let p = Pipeline::new(nodes).expect("valid pipeline");
        let check = p
            .run(Inputs::from([("buf".to_string(), input.clone())]), None)
            .expect("run");
        assert_eq!(check.len(), 10);
        time(
            || {
                let mut i = Inputs::new();
                i.insert("buf".to_string(), input.clone());
                black_box(p.run(i, None).expect("run"));
            },
            target,
            repeat,
        )
    };
    let owned = run(owned_nodes(), value(vec![1u8; MIB]));
    let borrowed = run(borrowed_nodes(), value(vec![1u8; MIB]));
    let shared = run(shared_nodes(), value(Arc::new(vec![1u8; MIB])));
    let ratio = borrowed.0 / shared.0;
    format!(
        "{{\"consumers\": 10, \"bytes\": {MIB}, \"owned_s\": {}, \"borrowed_s\": {}, \"arc_s\": {}, \
         \"borrowed_over_arc\": {ratio:.3}, \"owned_over_arc\": {:.1}, \"goal\": \"borrowed_over_arc <= 2\", \"met\": {}}}",
        json(owned),
        json(borrowed),
        json(shared),
        owned.0 / shared.0,
        ratio <= 2.0
    )
}

/// The 10-node chain as a pipeline, with its functions (see `chain.rs`).
fn chain() -> (Vec<Arc<dyn NodeFn>>, Pipeline) {
    let (funcs, nodes) = chain::chain(CHAIN);
    (funcs, Pipeline::new(nodes).expect("valid pipeline"))
}

fn direct(funcs: &[Arc<dyn NodeFn>], x0: i64) -> i64 {
    let mut args = vec![value(x0)];
    for f in funcs {
        args = f.call(args).expect("node call");
    }
    *args[0].downcast_ref::<i64>().expect("i64")
}

fn with_exec(p: &Pipeline, node: Mode, map: Mode) -> Pipeline {
    let exec = NodeExecutor::new(node, map, Some(2)).expect("executor");
    p.clone().with_executor(Some(Arc::new(exec)))
}

fn threaded_bench(target: f64, repeat: usize) -> String {
    let (funcs, p) = chain();
    let last = format!("x{CHAIN}");
    let d = time(
        || {
            black_box(direct(&funcs, black_box(1)));
        },
        target,
        repeat,
    );
    let mut parts = vec![format!("\"direct_s\": {}", json(d))];
    let mut worst: f64 = 0.0;
    for mode in [Mode::Sequential, Mode::Threaded, Mode::Async] {
        let p = with_exec(&p, mode, Mode::Sequential);
        let out = p.run(inputs! {"x0" => 1_i64}, None).expect("run");
        assert_eq!(out.get::<i64>(&last), Some(&(1 + CHAIN as i64)));
        let t = time_run(&p, target, repeat);
        let per_node = (t.0 - d.0) / CHAIN as f64;
        if mode != Mode::Sequential {
            worst = worst.max(per_node);
        }
        parts.push(format!(
            "\"{}\": {{\"run_s\": {}, \"overhead_per_node_s\": {per_node:e}}}",
            mode.as_str(),
            json(t)
        ));
    }
    // Not a goal, for the record: ten independent nodes (a fan-out), where "threaded" hands nodes
    // to pool workers instead of running them on the calling thread.
    let funcs: Vec<Arc<dyn NodeFn>> = (0..CHAIN).map(|_| add_one()).collect();
    let fan = Pipeline::new(funcs.iter().enumerate().map(|(i, f)| {
        Node::from_fn(
            format!("g{i}"),
            vec![Port::new("x0", Typed::<i64>::arc())],
            vec![Port::new(format!("y{i}"), Typed::<i64>::arc())],
            f.clone(),
        )
        .expect("valid node")
    }))
    .expect("valid pipeline");
    let mut fan_parts = Vec::new();
    for mode in [Mode::Sequential, Mode::Threaded] {
        let p = with_exec(&fan, mode, Mode::Sequential);
        let t = time_run(&p, target, repeat);
        fan_parts.push(format!(
            "\"{}\": {{\"run_s\": {}, \"per_node_s\": {:e}}}",
            mode.as_str(),
            json(t),
            t.0 / CHAIN as f64
        ));
    }
    format!(
        "{{\"nodes\": {CHAIN}, {}, \"fan_out\": {{{}}}, \"goal\": \"threaded and async overhead per node call <= 2e-6 s\", \"met\": {}}}",
        parts.join(", "),
        fan_parts.join(", "),
        worst <= 2e-6
    )
}

struct Noop {
    concurrent: bool,
}

impl Callback for Noop {
    fn on_event(&self, event: &Event<'_>, _ctx: &Context) {
        black_box(event);
    }
    fn concurrent(&self) -> bool {
        self.concurrent
    }
}

fn callbacks_bench(target: f64, repeat: usize, items: usize) -> String {
    let (_, p) = chain();
    let xs: Vec<i64> = (0..items as i64).collect();
    let calls = (CHAIN * items) as f64;
    let map = |p: &Pipeline| {
        let mut i = Inputs::new();
        i.insert("x0".to_string(), value(xs.clone()));
        black_box(
            p.map(i, &["x0".to_string()], MapMode::Zip, None)
                .expect("map"),
        );
    };
    let with_cb = |p: Pipeline, cb: Option<Noop>| match cb {
        None => p,
        Some(cb) => p.with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![Arc::new(cb)])))),
    };
    let seq = with_exec(&p, Mode::Sequential, Mode::Sequential);
    let par = with_exec(&p, Mode::Sequential, Mode::Parallel);
    let t_seq_none = time(|| map(&seq), target, repeat);
    let t_seq_noop = time(
        || map(&with_cb(seq.clone(), Some(Noop { concurrent: false }))),
        target,
        repeat,
    );
    let t_none = time(|| map(&par), target, repeat);
    let locked = with_cb(par.clone(), Some(Noop { concurrent: false }));
    let t_locked = time(|| map(&locked), target, repeat);
    let free = with_cb(par.clone(), Some(Noop { concurrent: true }));
    let t_free = time(|| map(&free), target, repeat);
    let per = |t: (f64, f64)| t.0 / calls;
    let cost_free = (t_free.0 - t_none.0) / calls;
    format!(
        "{{\"nodes\": {CHAIN}, \"items\": {items}, \"workers\": 2, \
         \"sequential_no_callback_s\": {}, \"sequential_noop_s\": {}, \
         \"parallel_no_callback_s\": {}, \"parallel_noop_locked_s\": {}, \"parallel_noop_concurrent_s\": {}, \
         \"per_node_call_s\": {{\"sequential_noop\": {:e}, \"parallel_none\": {:e}, \"parallel_noop_locked\": {:e}, \"parallel_noop_concurrent\": {:e}}}, \
         \"concurrent_callback_cost_per_node_call_s\": {cost_free:e}, \
         \"goal\": \"with a concurrent no-op callback, the parallel map is not slower than the sequential one\", \"met\": {}}}",
        json(t_seq_none),
        json(t_seq_noop),
        json(t_none),
        json(t_locked),
        json(t_free),
        per(t_seq_noop),
        per(t_none),
        per(t_locked),
        per(t_free),
        t_free.0 <= t_seq_noop.0
    )
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (target, repeat, items) = if quick {
        (0.02, 3, 200)
    } else {
        (0.2, 7, 2_000)
    };
    let clone = clone_bench(target, repeat);
    let threaded = threaded_bench(target, repeat);
    let callbacks = callbacks_bench(target, repeat, items);
    println!(
        "{{\"impl\": \"hypernodes (Rust front)\", \"clone\": {clone}, \"threaded\": {threaded}, \"callbacks\": {callbacks}}}"
    );
}
