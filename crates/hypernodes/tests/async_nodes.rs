//! `async fn` nodes: awaited on the engine's tokio runtime, concurrently under "async" execution,
//! and callable from inside a tokio runtime.

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

#[test]
fn async_nodes_run_sequentially() {
    let out = pipeline().run(inputs! {"x" => 4_i64}, None).unwrap();
    assert_eq!(out.get::<i64>("slept"), Some(&40));
    assert_eq!(out.get::<i64>("total"), Some(&41));
}

#[test]
fn async_map_items_overlap_and_keep_order() {
    let exec = NodeExecutor::new(Mode::Sequential, Mode::Async, Some(8)).unwrap();
    let t = Instant::now();
    let out = exec
        .map(
            &pipeline(),
            inputs! {"x" => (0..8_i64).collect::<Vec<_>>()},
            &["x".into()],
            MapMode::Zip,
            None,
        )
        .unwrap();
    let elapsed = t.elapsed();
    let totals: Vec<i64> = out
        .iter()
        .map(|o| *o.get::<i64>("total").unwrap())
        .collect();
    assert_eq!(totals, (0..8).map(|x| x * 10 + 1).collect::<Vec<_>>());
    // 8 naps of 150 ms each: sequentially 1.2 s; together about 0.15 s.
    assert!(
        elapsed < Duration::from_millis(700),
        "items did not overlap: {elapsed:?}"
    );
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
