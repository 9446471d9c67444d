//! `async fn` nodes: awaited on the engine's tokio runtime, concurrently under "async" execution,
//! and callable from inside a tokio runtime.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hypernodes::{inputs, node, Executor, MapMode, Mode, NodeExecutor, Pipeline};

#[node(output = "slept")]
async fn nap(x: i64) -> i64 {
    tokio::time::sleep(Duration::from_millis(150)).await;
    x * 10
}

#[node(output = "total")]
async fn add_one(slept: i64) -> Result<i64, std::io::Error> {
    tokio::task::yield_now().await;
    if slept < 0 {
        return Err(std::io::Error::other("negative"));
    }
    Ok(slept + 1)
}

fn pipeline() -> Pipeline {
    Pipeline::new([nap::node(), add_one::node()]).unwrap()
}

/// Calls active at once, and the peak. Holding it is a rendezvous: a call waits (polling, without
/// blocking its runtime) until `target` calls are active together or `PATIENCE` has passed, then
/// stays `STAY` more, so that a correct executor shows a peak of exactly `target` however late its
/// threads get scheduled, and the test never depends on how long anything takes.
struct Overlap {
    active: AtomicUsize,
    peak: AtomicUsize,
    met: AtomicBool,
}

/// How long a call waits at most for the others (only when the test fails).
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a call stays once `target` are active: an executor running more shows a higher peak.
const STAY: Duration = Duration::from_millis(30);

impl Overlap {
    const fn new() -> Self {
        Self {
            active: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            met: AtomicBool::new(false),
        }
    }

    async fn hold(&self, target: usize) {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if now >= target {
            self.met.store(true, Ordering::SeqCst);
        }
        let deadline = Instant::now() + PATIENCE;
        while !self.met.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // met or waited out: later calls need not wait
        self.met.store(true, Ordering::SeqCst);
        tokio::time::sleep(STAY).await;
        self.active.fetch_sub(1, Ordering::SeqCst);
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Only `counted_nap` (used by one test) holds it.
static NAPS: Overlap = Overlap::new();

/// The map items that `async_map_items_overlap_and_keep_order` runs, all at once with 8 workers.
const ITEMS: usize = 8;

#[node(output = "slept")]
async fn counted_nap(x: i64) -> i64 {
    NAPS.hold(ITEMS).await;
    x * 10
}

#[test]
fn async_nodes_run_sequentially() {
    let out = pipeline().run(inputs! {"x" => 4_i64}, None).unwrap();
    assert_eq!(out.get::<i64>("slept"), Some(&40));
    assert_eq!(out.get::<i64>("total"), Some(&41));
}

#[test]
fn async_map_items_overlap_and_keep_order() {
    let exec = NodeExecutor::new(Mode::Sequential, Mode::Async, Some(ITEMS)).unwrap();
    let p = Pipeline::new([counted_nap::node(), add_one::node()]).unwrap();
    let out = exec
        .map(
            &p,
            inputs! {"x" => (0..ITEMS as i64).collect::<Vec<_>>()},
            &["x".into()],
            MapMode::Zip,
            None,
        )
        .unwrap();
    let totals: Vec<i64> = out
        .iter()
        .map(|o| *o.get::<i64>("total").unwrap())
        .collect();
    assert_eq!(
        totals,
        (0..ITEMS as i64).map(|x| x * 10 + 1).collect::<Vec<_>>()
    );
    // as many workers as items: all the naps are awaited together (sequentially: a peak of 1)
    assert_eq!(NAPS.peak(), ITEMS, "async naps active at once");
}

#[test]
fn async_node_errors_name_the_node() {
    let err = pipeline().run(inputs! {"x" => -1_i64}, None).unwrap_err();
    match err {
        hypernodes::Error::Node { node, source, .. } => {
            assert_eq!(node, "add_one");
            assert!(source.to_string().contains("negative"));
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn runs_from_inside_tokio_runtimes() {
    for multi in [true, false] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let p = pipeline().with_executor(Some(Arc::new(
            NodeExecutor::new(Mode::Async, Mode::Async, Some(4)).unwrap(),
        )));
        let out = rt.block_on(async move {
            p.map(
                inputs! {"x" => vec![1_i64, 2]},
                &["x".into()],
                MapMode::Zip,
                None,
            )
        });
        let totals: Vec<i64> = out
            .unwrap()
            .iter()
            .map(|o| *o.get::<i64>("total").unwrap())
            .collect();
        assert_eq!(totals, vec![11, 21], "multi_thread={multi}");
    }
}
