//! The execution protocol the engine owns for every executor: error notes that name the node, the
//! pipeline path from the root and the map items, and `NodeExecutor::resume_items`, which a worker
//! uses to run some items of a map that a caller started (same outputs, events and notes).

mod common;

use std::sync::{Arc, Mutex};

use common::{int, s, Counter};
use hypernodes::executor_api::{Context, Origin};
use hypernodes::{
    inputs, node_note, value, AsNode, BoxError, Callback, Callbacks, Error, Event, Inputs, MapMode,
    Mode, Node, NodeExecutor, OnError, Pipeline, Port, Setting, Typed, Value,
};

/// `judge`: fails on 2, otherwise returns its input.
fn judge() -> Node {
    Node::new(
        "judge",
        vec![Port::new("x", Typed::<i64>::arc())],
        vec![Port::new("answer", Typed::<i64>::arc())],
        |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
            let x = *args[0].downcast_ref::<i64>().unwrap();
            if x == 2 {
                return Err("quota exceeded".into());
            }
            Ok(vec![value(x)])
        },
    )
    .unwrap()
}

/// Every mode, for nodes and items alike.
const MODES: [Mode; 4] = [
    Mode::Sequential,
    Mode::Threaded,
    Mode::Async,
    Mode::Parallel,
];

/// Pipeline `eval` of `judge`, nodes and items in `mode` with two workers.
fn judged(mode: Mode) -> Pipeline {
    let ex = NodeExecutor::new(mode, mode, Some(2)).unwrap();
    Pipeline::new([judge()])
        .unwrap()
        .with_name("eval")
        .with_executor(Some(Arc::new(ex)))
}

fn note_of(err: &Error) -> String {
    match err {
        Error::Node {
            node, path, items, ..
        } => node_note(node, path, items),
        other => panic!("expected Error::Node, got {other:?}"),
    }
}

#[test]
fn the_note_names_node_path_and_item_in_every_mode() {
    for mode in MODES {
        let p = judged(mode);
        let err = p
            .map(
                inputs! {"x" => vec![0_i64, 1, 2, 3]},
                &s(&["x"]),
                MapMode::Zip,
                None,
            )
            .unwrap_err();
        assert_eq!(
            note_of(&err),
            "in node 'judge' of pipeline 'eval', item 2",
            "{mode:?}"
        );
        assert!(err.to_string().contains("quota exceeded"), "{mode:?}");
    }
}

#[test]
fn a_run_note_has_no_item() {
    let p = Pipeline::new([judge()]).unwrap().with_name("eval");
    let err = p.run(inputs! {"x" => 2_i64}, None).unwrap_err();
    assert_eq!(note_of(&err), "in node 'judge' of pipeline 'eval'");
}

#[test]
fn nested_maps_name_the_full_path_and_every_item() {
    let inner = Pipeline::new([judge()]).unwrap().with_name("per_query");
    let node = inner
        .as_node(AsNode {
            name: Some("queries".into()),
            map_over: s(&["x"]),
            ..AsNode::default()
        })
        .unwrap();
    let outer = Pipeline::new([node]).unwrap().with_name("eval");
    let err = outer
        .map(
            inputs! {"x" => vec![vec![0_i64], vec![1, 2]]},
            &s(&["x"]),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    assert_eq!(
        note_of(&err),
        "in node 'judge' of pipeline 'eval > per_query', items 1 > 1"
    );
}

/// Every event as text with its path, as a worker's recording would carry it.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Callback for Log {
    fn on_event(&self, event: &Event<'_>, ctx: &Context) {
        let what = match event {
            Event::MapItemStart { index } => format!("item_start {index}"),
            Event::MapItemEnd { index, .. } => format!("item_end {index}"),
            Event::NodeStart { node, .. } => format!("node_start {node}"),
            Event::NodeEnd { node, .. } => format!("node_end {node}"),
            Event::PipelineStart { pipeline, .. } => format!("pipeline_start {pipeline}"),
            Event::PipelineEnd { pipeline, .. } => format!("pipeline_end {pipeline}"),
            Event::MapStart { total } => format!("map_start {total}"),
            Event::MapEnd { .. } => "map_end".into(),
            _ => return,
        };
        self.0
            .lock()
            .unwrap()
            .push(format!("{what} @{}", ctx.path_strings().join("/")));
    }
}

fn doubler(counter: &Counter) -> Node {
    common::int_node("double", &["x"], "y", counter, |v| 2 * v[0])
}

#[test]
fn resumed_items_give_the_outputs_and_events_of_the_callers_own_map() {
    let c = Counter::new();
    let log = Log::default();
    let p = Pipeline::new([doubler(&c)])
        .unwrap()
        .with_name("inner")
        .with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![
            Arc::new(log.clone()) as Arc<dyn Callback>,
        ]))));
    let items: Vec<Vec<Value>> = [5_i64, 6, 7].iter().map(|&x| vec![value(x)]).collect();
    let origin = Origin {
        path: s(&["root", "inner"]),
        items: vec![4],
        map_depth: 1,
    };
    let out = NodeExecutor::default()
        .resume_items(
            &p,
            &Inputs::new(),
            &s(&["x"]),
            &items,
            10,
            None,
            &origin,
            OnError::Raise,
        )
        .unwrap();
    assert_eq!(
        out.iter()
            .map(|o| int(o.as_ref().unwrap(), "y"))
            .collect::<Vec<_>>(),
        [10, 12, 14]
    );
    let events = log.0.lock().unwrap().clone();
    assert_eq!(events[0], "item_start 10 @root/inner");
    assert_eq!(events[1], "pipeline_start inner @root/inner");
    assert_eq!(events.last().unwrap(), "item_end 12 @root/inner");
    assert!(
        !events.iter().any(|e| e.starts_with("map_")),
        "map start and end are the caller's: {events:?}"
    );
    assert_eq!(c.get(), 3);
}

#[test]
fn a_resumed_item_that_fails_names_the_callers_path_and_its_own_index() {
    let p = Pipeline::new([judge()]).unwrap().with_name("per_query");
    let items: Vec<Vec<Value>> = [1_i64, 2].iter().map(|&x| vec![value(x)]).collect();
    let origin = Origin {
        path: s(&["eval", "per_query"]),
        items: vec![3],
        map_depth: 1,
    };
    let err = NodeExecutor::default()
        .resume_items(
            &p,
            &Inputs::new(),
            &s(&["x"]),
            &items,
            7,
            None,
            &origin,
            OnError::Raise,
        )
        .unwrap_err();
    assert_eq!(
        note_of(&err),
        "in node 'judge' of pipeline 'eval > per_query', items 3 > 8"
    );
}

#[test]
fn map_each_goes_on_past_failing_items_in_every_mode() {
    for mode in MODES {
        let p = judged(mode);
        let out = p
            .map_each(
                inputs! {"x" => vec![0_i64, 1, 2, 3]},
                &s(&["x"]),
                MapMode::Zip,
                None,
            )
            .unwrap();
        assert_eq!(out.len(), 4, "{mode:?}");
        for (x, r) in out.iter().enumerate() {
            match r {
                Ok(o) => assert_eq!(int(o, "answer"), x as i64, "{mode:?}"),
                Err(e) => {
                    assert_eq!(x, 2, "{mode:?}");
                    assert_eq!(note_of(e), "in node 'judge' of pipeline 'eval', item 2");
                }
            }
        }
    }
}

#[test]
fn on_error_names_the_choices() {
    assert_eq!("continue".parse::<OnError>().unwrap(), OnError::Continue);
    let err = "skip".parse::<OnError>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "on_error must be 'raise' or 'continue', got 'skip'"
    );
}

#[test]
fn a_cancel_token_stops_a_map_and_nothing_new_starts() {
    use hypernodes::CancelToken;
    for mode in [Mode::Sequential, Mode::Threaded, Mode::Parallel] {
        let token = CancelToken::new();
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (t, c) = (token.clone(), started.clone());
        let slow = Node::new(
            "slow",
            vec![Port::new("x", Typed::<i64>::arc())],
            vec![Port::new("y", Typed::<i64>::arc())],
            move |args: Vec<Value>| -> Result<Vec<Value>, BoxError> {
                if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 3 {
                    t.cancel(); // as another thread or a signal handler would
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
                Ok(vec![args[0].clone()])
            },
        )
        .unwrap();
        let ex = NodeExecutor::new(Mode::Sequential, mode, Some(2)).unwrap();
        let p = Pipeline::new([slow])
            .unwrap()
            .with_executor(Some(Arc::new(ex)))
            .with_cancel_token(token.clone());
        let err = p
            .map(
                inputs! {"x" => (0..50_i64).collect::<Vec<_>>()},
                &s(&["x"]),
                MapMode::Zip,
                None,
            )
            .unwrap_err();
        assert!(matches!(err, Error::Interrupted), "{mode:?}: {err:?}");
        assert!(token.is_cancelled());
        let n = started.load(std::sync::atomic::Ordering::SeqCst);
        assert!(n <= 5, "{mode:?}: {n} items started");
    }
}

/// Records of nodes that ran elsewhere replay as NodeExecutor's own events, outputs and errors.
#[test]
fn replayed_records_give_node_executor_events_outputs_and_notes() {
    use hypernodes::executor_api::{replay_item, ItemReplay, NodeRecord};
    use hypernodes::Executor;
    use std::time::Duration;

    let c = Counter::new();
    let log = Log::default();
    let p = Pipeline::new([
        common::int_node("a", &["x"], "y", &c, |v| v[0] + 1),
        common::int_node("b", &["y"], "z", &c, |v| v[0] * 2),
    ])
    .unwrap()
    .with_name("p")
    .with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![
        Arc::new(log.clone()) as Arc<dyn Callback>,
    ]))));
    let plan = p.plan(None).unwrap();
    let ctx = Context::root(&p, NodeExecutor::default().shared());
    let inputs = vec![(Arc::<str>::from("x"), value(1_i64))];
    let item = ItemReplay {
        pipeline: &p,
        plan: &plan,
        index: Some(4),
        inputs: &inputs,
        item_keys: None,
    };
    let forwarded = Mutex::new(Vec::new());
    let forward = |_: &Context, inner: &'static str| forwarded.lock().unwrap().push(inner);
    let records = vec![
        (
            1,
            NodeRecord::Done {
                outputs: vec![value(4_i64)],
                duration: Duration::from_millis(3),
                inner: "b's inner events",
            },
        ),
        (
            0,
            NodeRecord::Done {
                outputs: vec![value(2_i64)],
                duration: Duration::from_millis(1),
                inner: "a's inner events",
            },
        ),
    ];
    let out = replay_item(&ctx, &item, records, &forward).unwrap();
    assert_eq!(int(&out, "z"), 4);
    assert_eq!(int(&out, "y"), 2);
    assert_eq!(
        c.get(),
        0,
        "nothing ran here: the records say what ran elsewhere"
    );
    assert_eq!(
        *forwarded.lock().unwrap(),
        ["a's inner events", "b's inner events"],
        "each node's recorded events at its place, in plan order"
    );
    assert_eq!(
        log.0.lock().unwrap().clone(),
        [
            "item_start 4 @p",
            "pipeline_start p @p",
            "node_start a @p",
            "node_end a @p",
            "node_start b @p",
            "node_end b @p",
            "pipeline_end p @p",
            "item_end 4 @p",
        ]
    );

    // a failing node: the engine's note, and no event after the error
    log.0.lock().unwrap().clear();
    let records = vec![
        (
            0,
            NodeRecord::Failed {
                error: "quota exceeded".into(),
                noted: false,
                duration: Duration::ZERO,
                inner: "a's inner events",
            },
        ),
        (1, NodeRecord::Skipped),
    ];
    let err = replay_item(&ctx, &item, records, &forward).unwrap_err();
    assert_eq!(note_of(&err), "in node 'a' of pipeline 'p', item 4");
    let events = log.0.lock().unwrap().clone();
    assert_eq!(events.last().unwrap(), "node_start a @p");
}
