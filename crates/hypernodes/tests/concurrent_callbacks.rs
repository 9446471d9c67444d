//! Event delivery: callbacks that say they are `concurrent` get events from several threads at once
//! (a parallel map is not serialized behind the delivery lock); others never overlap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hypernodes::{
    executor_api::Context, inputs, node, Callback, Callbacks, Event, MapMode, Mode, NodeExecutor,
    Pipeline, Setting,
};

/// Counts how many deliveries overlap: each NodeEnd holds its delivery for a moment.
struct Overlap {
    concurrent: bool,
    inside: AtomicUsize,
    most: AtomicUsize,
    events: AtomicUsize,
}

impl Overlap {
    fn new(concurrent: bool) -> Arc<Self> {
        Arc::new(Overlap {
            concurrent,
            inside: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            events: AtomicUsize::new(0),
        })
    }
}

impl Callback for Overlap {
    fn on_event(&self, event: &Event<'_>, _ctx: &Context) {
        self.events.fetch_add(1, Ordering::SeqCst);
        if let Event::NodeEnd { .. } = event {
            let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            self.inside.fetch_sub(1, Ordering::SeqCst);
        }
    }
    fn concurrent(&self) -> bool {
        self.concurrent
    }
}

#[node(output = "y")]
fn inc(x: i64) -> i64 {
    x + 1
}

fn mapped_with(cb: Arc<Overlap>) -> Vec<i64> {
    let exec = NodeExecutor::new(Mode::Sequential, Mode::Threaded, Some(4)).unwrap();
    let p = Pipeline::new([inc::node()])
        .unwrap()
        .with_executor(Some(Arc::new(exec)))
        .with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![cb]))));
    p.map(
        inputs! {"x" => (0..8_i64).collect::<Vec<_>>()},
        &["x".to_string()],
        MapMode::Zip,
        None,
    )
    .unwrap()
    .iter()
    .map(|o| *o.get::<i64>("y").unwrap())
    .collect()
}

#[test]
fn concurrent_callbacks_take_events_from_several_threads_at_once() {
    let cb = Overlap::new(true);
    assert_eq!(mapped_with(cb.clone()), (1..9).collect::<Vec<_>>());
    assert!(
        cb.most.load(Ordering::SeqCst) >= 2,
        "deliveries never overlapped"
    );
    assert!(cb.events.load(Ordering::SeqCst) >= 8);
}

#[test]
fn other_callbacks_are_never_called_concurrently() {
    let cb = Overlap::new(false);
    assert_eq!(mapped_with(cb.clone()), (1..9).collect::<Vec<_>>());
    assert_eq!(cb.most.load(Ordering::SeqCst), 1);
}
