//! Map speedup of the "parallel" execution mode (rayon) over sequential, for CPU-bound Rust nodes.
//! Prints one JSON object (times in seconds).
//!
//! The node burns the CPU for about 5 ms per item (an integer loop, calibrated at start-up); the map
//! runs it over 80 items with `NodeExecutor::new(Mode::Sequential, <mode>, Some(2))` and
//! `exec.map(&p, inputs, &["x".into()], MapMode::Zip, None)`. The samples of the sequential and the
//! parallel map alternate (so that a change in the machine's load hits both alike); the speedup is
//! median(sequential) / median(parallel). One warm-up call of each comes first. `--quick` shortens
//! everything (for smoke tests).
//!
//! A control shows what the machine allows at that moment: the same items burnt without the engine,
//! by hand in a loop and on 2 plain threads (`std::thread::scope`, items taken from a shared
//! counter), timed in the same rounds as the engine. On a busy machine both speedups drop together;
//! the engine is only to blame for the gap.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hypernodes::{
    value, BoxError, Executor, Inputs, MapMode, Mode, Node, NodeExecutor, NodeFn, Pipeline, Port,
    Typed, Value,
};

const WORKERS: usize = 2;
const ITEM_MS: f64 = 5.0;

/// The CPU-bound work of one item: `rounds` steps of an integer hash, seeded by `x`.
fn burn(x: u64, rounds: u64) -> u64 {
    let mut h = x ^ 0x9e37_79b9_7f4a_7c15;
    for i in 0..rounds {
        h = (h ^ i).wrapping_mul(0x0100_0000_01b3).rotate_left(17);
        h = black_box(h);
    }
    h
}

/// Rounds of `burn` that take about `ms` milliseconds on this machine.
fn calibrate(ms: f64) -> u64 {
    let mut rounds = 1u64 << 16;
    loop {
        let t0 = Instant::now();
        black_box(burn(1, rounds));
        let dt = t0.elapsed().as_secs_f64() * 1e3;
        if dt >= 2.0 {
            return ((rounds as f64) * ms / dt).max(1.0) as u64;
        }
        rounds *= 4;
    }
}

fn pipeline(rounds: u64) -> Pipeline {
    let f: Arc<dyn NodeFn> = Arc::new(move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
        let x = *args[0].downcast_ref::<u64>().ok_or("x is not a u64")?;
        Ok(vec![value(burn(x, rounds))])
    });
    let node = Node::from_fn(
        "burn",
        vec![Port::new("x", Typed::<u64>::arc())],
        vec![Port::new("y", Typed::<u64>::arc())],
        f,
    )
    .expect("valid node");
    Pipeline::new(vec![node]).expect("valid pipeline")
}

fn run_map(exec: &NodeExecutor, p: &Pipeline, xs: &[u64]) -> Vec<u64> {
    let mut inputs = Inputs::new();
    inputs.insert("x".to_string(), value(xs.to_vec()));
    exec.map(p, inputs, &["x".into()], MapMode::Zip, None)
        .expect("map")
        .iter()
        .map(|o| *o.get::<u64>("y").expect("output y"))
        .collect()
}

/// The control: the items burnt on `WORKERS` plain threads, without the engine.
fn by_threads(xs: &[u64], rounds: u64) -> Vec<u64> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(vec![0u64; xs.len()]);
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= xs.len() {
                    break;
                }
                let y = burn(xs[i], rounds);
                out.lock().expect("not poisoned")[i] = y;
            });
        }
    });
    out.into_inner().expect("not poisoned")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn json_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:e}")).collect();
    format!("[{}]", items.join(", "))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let repeat: usize = if quick { 3 } else { 7 };
    let items = if quick { 20 } else { 80 };

    let rounds = calibrate(ITEM_MS);
    let p = pipeline(rounds);
    let xs: Vec<u64> = (0..items as u64).collect();
    let sequential =
        NodeExecutor::new(Mode::Sequential, Mode::Sequential, Some(WORKERS)).expect("executor");
    let parallel =
        NodeExecutor::new(Mode::Sequential, Mode::Parallel, Some(WORKERS)).expect("executor");

    // warm-up (and a check that both give the same results, in order)
    let expected: Vec<u64> = xs.iter().map(|&x| burn(x, rounds)).collect();
    assert_eq!(run_map(&sequential, &p, &xs), expected, "sequential map");
    assert_eq!(run_map(&parallel, &p, &xs), expected, "parallel map");

    assert_eq!(by_threads(&xs, rounds), expected, "control");

    // one round: the engine sequential and parallel, then the control by hand and on plain threads
    let mut seq_s = Vec::new();
    let mut par_s = Vec::new();
    let mut hand_s = Vec::new();
    let mut threads_s = Vec::new();
    for _ in 0..repeat {
        for (exec, out) in [(&sequential, &mut seq_s), (&parallel, &mut par_s)] {
            let t0 = Instant::now();
            black_box(run_map(exec, &p, &xs));
            out.push(t0.elapsed().as_secs_f64());
        }
        let t0 = Instant::now();
        black_box(xs.iter().map(|&x| burn(x, rounds)).collect::<Vec<_>>());
        hand_s.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        black_box(by_threads(&xs, rounds));
        threads_s.push(t0.elapsed().as_secs_f64());
    }
    let (seq, par) = (median(seq_s.clone()), median(par_s.clone()));
    let (hand, threads) = (median(hand_s.clone()), median(threads_s.clone()));
    let t0 = Instant::now();
    black_box(burn(1, rounds));
    let item_s = t0.elapsed().as_secs_f64();
    println!(
        "{{\"suite\": \"rust-modes\", \"quick\": {quick}, \"cpus\": {}, \"cpu_parallel\": {{\
\"items\": {items}, \"workers\": {WORKERS}, \"item_s\": {item_s:e}, \
\"sequential_s\": {{\"median\": {seq:e}, \"samples\": {}}}, \
\"parallel_s\": {{\"median\": {par:e}, \"samples\": {}}}, \"speedup\": {}, \
\"control\": {{\"by_hand_s\": {hand:e}, \"threads_s\": {threads:e}, \"speedup\": {}}}}}}}",
        hypernodes::cpu_count(),
        json_list(&seq_s),
        json_list(&par_s),
        seq / par,
        hand / threads
    );
}
