//! `RunReport`: its numbers against runs with known sleeps and cache hits (sequential and threaded
//! maps), and its JSON, which must keep the shape the Python package reads
//! (`python/tests/data/rust_run_report.json` is a report written by this front).

use std::sync::Arc;
use std::time::Duration;

use hypernodes::{
    inputs, value, BoxError, Callback, Callbacks, MapMode, MemoryCache, Mode, Node, NodeExecutor,
    Pipeline, Port, RunReport, Setting, Typed, Value,
};

mod common;
use common::s;

fn sleepy(name: &str, param: &str, output: &str, ms: u64) -> Node {
    Node::new(
        name,
        vec![Port::new(param, Typed::<i64>::arc())],
        vec![Port::new(output, Typed::<i64>::arc())],
        move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            std::thread::sleep(Duration::from_millis(ms));
            let x = *args[0].downcast_ref::<i64>().expect("an i64");
            if x < 0 {
                return Err("negative".into());
            }
            Ok(vec![value(x + 1)])
        },
    )
    .expect("a valid node")
}

fn reported(p: Pipeline, report: &Arc<RunReport>) -> Pipeline {
    let cb: Arc<dyn Callback> = report.clone();
    p.with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![cb]))))
}

fn pipeline() -> Pipeline {
    Pipeline::new(vec![
        sleepy("slow", "x", "a", 40),
        sleepy("fast", "a", "b", 0),
    ])
    .unwrap()
    .with_name("p")
}

#[test]
fn counts_times_hits_and_items_of_a_cached_map() {
    let report = Arc::new(RunReport::new());
    let p = reported(pipeline(), &report).with_cache(Setting::On(Arc::new(MemoryCache::new())));
    p.map(
        inputs! {"x" => vec![1_i64, 2, 3]},
        &s(&["x"]),
        MapMode::Zip,
        None,
    )
    .unwrap();
    p.map(
        inputs! {"x" => vec![1_i64, 2, 4]},
        &s(&["x"]),
        MapMode::Zip,
        None,
    )
    .unwrap();
    let slow = report.stats(&["p"], "slow").expect("slow recorded");
    assert_eq!((slow.calls, slow.cache_hits, slow.errors), (6, 2, 0));
    assert!(
        (0.16..0.6).contains(&slow.total_time),
        "{}",
        slow.total_time
    );
    assert!((0.04..0.2).contains(&slow.slowest), "{}", slow.slowest);
    let spans: Vec<_> = report
        .spans()
        .into_iter()
        .filter(|s| s.node == "slow")
        .collect();
    let status: Vec<_> = spans.iter().map(|s| s.status).collect();
    assert_eq!(status, ["ran", "ran", "ran", "cached", "cached", "ran"]);
    let items: Vec<_> = spans.iter().map(|s| s.item).collect();
    assert_eq!(items, [0, 1, 2, 0, 1, 2].map(Some));
    for sp in spans.iter().filter(|s| s.status == "ran") {
        assert!((0.035..0.2).contains(&(sp.end - sp.start)), "{sp:?}");
    }
    assert!(report.duration() >= 0.16);
    report.reset();
    assert!(report.nodes().is_empty() && report.spans().is_empty());
}

#[test]
fn threaded_map_spans_name_items_and_workers() {
    let report = Arc::new(RunReport::new());
    let exec = Arc::new(NodeExecutor::new(Mode::Sequential, Mode::Threaded, Some(3)).unwrap());
    let p = reported(pipeline(), &report).with_executor(Some(exec));
    p.map(
        inputs! {"x" => (0..6_i64).collect::<Vec<_>>()},
        &s(&["x"]),
        MapMode::Zip,
        None,
    )
    .unwrap();
    let spans = report.spans();
    let slow: Vec<_> = spans.iter().filter(|s| s.node == "slow").collect();
    let mut items: Vec<_> = slow.iter().map(|s| s.item.expect("in an item")).collect();
    items.sort();
    assert_eq!(items, (0..6).collect::<Vec<_>>());
    let workers: std::collections::BTreeSet<_> = slow.iter().map(|s| s.worker.clone()).collect();
    assert!((2..=3).contains(&workers.len()), "{workers:?}");
    let total = report.stats(&["p"], "slow").unwrap().total_time;
    assert!(
        report.duration() < total,
        "{} vs {total}",
        report.duration()
    );
}

#[test]
fn errors_and_the_json_shape_the_python_side_reads() {
    let report = Arc::new(RunReport::new());
    let p = reported(pipeline(), &report);
    assert!(p.run(inputs! {"x" => -1_i64}, None).is_err());
    let slow = report.stats(&["p"], "slow").unwrap();
    assert_eq!((slow.calls, slow.errors), (1, 1));
    assert_eq!(report.spans()[0].status, "error");
    p.run(inputs! {"x" => 1_i64}, None).unwrap();

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["nodes"][0]["path"], serde_json::json!(["p"]));
    assert_eq!(json["nodes"][0]["node"], "slow");
    assert_eq!(json["spans"][0]["item"], serde_json::Value::Null);

    // the committed sample the Python tests draw has exactly the keys written today
    // (HYPERNODES_WRITE_SAMPLE=1 cargo test -p hypernodes --test report rewrites it)
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sample_path = root.join("python/tests/data/rust_run_report.json");
    if std::env::var_os("HYPERNODES_WRITE_SAMPLE").is_some() {
        let r = Arc::new(RunReport::new());
        reported(pipeline(), &r)
            .map(
                inputs! {"x" => vec![1_i64, 2]},
                &s(&["x"]),
                MapMode::Zip,
                None,
            )
            .unwrap();
        r.write_json(&sample_path).unwrap();
    }
    let sample: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sample_path).unwrap()).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&sample), keys(&json));
    assert_eq!(keys(&sample["nodes"][0]), keys(&json["nodes"][0]));
    assert_eq!(keys(&sample["spans"][0]), keys(&json["spans"][0]));
}
