//! The engine's run-tree model, and the Rust renderers that draw it (`TracingCallback`,
//! `ProgressCallback`), fed the event sequences of `tests/data/run_tree_cases.json`, which the
//! Python front feeds to the same model and to its own renderers (`python/tests/test_observe.py`):
//! all must give the same span tree and the same bars.

use std::collections::HashMap;

use hypernodes::{Change, Outcome, RunTree, SpanKind, Step, Where};
use serde_json::Value as Json;

fn step<'a>(hook: &str, args: &'a [Json]) -> Step<'a> {
    let s = |i: usize| args[i].as_str().expect("a string argument");
    let n = |i: usize| args[i].as_u64().expect("a count") as usize;
    match hook {
        "on_pipeline_start" => Step::PipelineStart(s(0)),
        "on_pipeline_end" => Step::PipelineEnd(s(0)),
        "on_node_start" => Step::NodeStart(s(0)),
        "on_node_end" => Step::NodeEnd(s(0)),
        "on_node_cached" => Step::NodeCached(s(0), s(1)),
        "on_error" => Step::Error(s(0), s(1).to_string()),
        "on_nested_pipeline_start" => Step::NestedStart(s(1)),
        "on_nested_pipeline_end" => Step::NestedEnd(s(1)),
        "on_map_start" => Step::MapStart(n(0)),
        "on_map_end" => Step::MapEnd,
        "on_map_item_start" => Step::ItemStart(n(0)),
        "on_map_item_end" => Step::ItemEnd(n(0)),
        "on_map_item_cached" => Step::ItemCached(n(0)),
        other => panic!("unknown hook {other}"),
    }
}

/// The tree as the fixture writes it: `indent name own #id outcome`, children in opening order.
fn lines(changes: &[Change]) -> Vec<String> {
    let mut opened = Vec::new();
    let mut outcome: HashMap<u64, &str> = HashMap::new();
    for c in changes {
        match c {
            Change::Open { id, parent, span } => opened.push((*id, *parent, span.clone())),
            Change::Close { id, outcome: o } => {
                let o = match o {
                    Outcome::Ok => "ok",
                    Outcome::Cached => "cached",
                    Outcome::Failed(_) => "failed",
                };
                assert!(outcome.insert(*id, o).is_none(), "span {id} closed twice");
            }
            _ => {}
        }
    }
    fn walk(
        opened: &[(u64, Option<u64>, hypernodes::SpanInfo)],
        outcome: &HashMap<u64, &str>,
        parent: Option<u64>,
        depth: usize,
        out: &mut Vec<String>,
    ) {
        for (id, p, span) in opened.iter().filter(|(_, p, _)| *p == parent) {
            let own = match span.kind {
                SpanKind::Node => span.node.clone().unwrap_or_default(),
                SpanKind::Item => span.item_index.unwrap_or_default().to_string(),
                _ => span.pipeline.clone(),
            };
            let o = outcome.get(id).copied().unwrap_or("open");
            let name = span.kind.name();
            out.push(format!("{}{name} {own} #{id} {o}", "  ".repeat(depth)));
            let _ = p;
            walk(opened, outcome, Some(*id), depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(&opened, &outcome, None, 0, &mut out);
    out
}

#[test]
fn shared_event_sequences() {
    let text = include_str!("data/run_tree_cases.json");
    let cases: Json = serde_json::from_str(text).unwrap();
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut tree = RunTree::new();
        let mut changes = Vec::new();
        for ev in case["events"].as_array().unwrap() {
            let hook = ev[0].as_str().unwrap();
            let args = ev[1].as_array().unwrap();
            let path: Vec<String> = (ev[2].as_array().unwrap().iter())
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            let items: Vec<usize> = (ev[3].as_array().unwrap().iter())
                .map(|i| i.as_u64().unwrap() as usize)
                .collect();
            let at = Where {
                path: &path,
                items: &items,
            };
            changes.extend(tree.apply(&step(hook, args), at));
        }
        let want: Vec<String> = (case["tree"].as_array().unwrap().iter())
            .map(|l| l.as_str().unwrap().to_string())
            .collect();
        assert_eq!(lines(&changes), want, "{name}");
        let bars: Vec<Json> = (tree.bars().iter())
            .map(|b| {
                serde_json::json!([b.path, b.node, b.done, b.total, b.cached, b.failed, b.finished])
            })
            .collect();
        assert_eq!(Json::Array(bars), case["bars"], "{name}");
        assert!(tree.is_done(), "{name}");
        assert_eq!(changes.last(), Some(&Change::Done), "{name}");
    }
}

#[cfg(any(feature = "progress", feature = "tracing"))]
/// Delivers the case's events to `cb` as the engine would, each with its own path and items, all
/// in one root run.
fn deliver(cb: &dyn hypernodes::Callback, events: &[Json]) {
    use hypernodes::{Error, Event, NodeExecutor};
    use std::sync::Arc;
    use std::time::Duration;

    #[hypernodes::node(output = "y")]
    fn ident(x: i64) -> i64 {
        x
    }
    let p = hypernodes::Pipeline::new([ident::node()]).unwrap();
    let exec: Arc<dyn hypernodes::Executor> = Arc::new(NodeExecutor::default());
    // one root run for every event (callbacks keep one model per root run)
    let root_name = events[0][2][0].as_str().unwrap();
    let root = hypernodes::executor_api::Context::root(&p.with_name(root_name), exec.clone());
    let d = Duration::from_millis(1);
    for ev in events {
        let hook = ev[0].as_str().unwrap();
        let args = ev[1].as_array().unwrap();
        let s = |i: usize| args[i].as_str().unwrap();
        let n = |i: usize| args[i].as_u64().unwrap() as usize;
        // the event's place: its pipeline path below the root, then its map items
        let path = ev[2].as_array().unwrap();
        let mut ctx = root.clone();
        for name in &path[1..] {
            ctx = ctx.nested(&p.with_name(name.as_str().unwrap()), exec.clone(), false);
        }
        for i in ev[3].as_array().unwrap() {
            ctx = ctx.map_item(i.as_u64().unwrap() as usize);
        }
        assert_eq!(
            ctx.path()[0].as_ref(),
            path[0].as_str().unwrap(),
            "one root per case"
        );
        let error = Error::Config(format!("{} failed", args[0]));
        let event = match hook {
            "on_pipeline_start" => Event::PipelineStart {
                pipeline: s(0),
                inputs: &[],
            },
            "on_pipeline_end" => Event::PipelineEnd {
                pipeline: s(0),
                outputs: &[],
                duration: d,
            },
            "on_node_start" => Event::NodeStart {
                node: s(0),
                inputs: &[],
            },
            "on_node_end" => Event::NodeEnd {
                node: s(0),
                outputs: &[],
                duration: d,
            },
            "on_node_cached" => Event::NodeCached {
                node: s(0),
                signature: s(1),
            },
            "on_error" => Event::Error {
                node: s(0),
                error: &error,
            },
            "on_nested_pipeline_start" => Event::NestedStart {
                parent: s(0),
                child: s(1),
            },
            "on_nested_pipeline_end" => Event::NestedEnd {
                parent: s(0),
                child: s(1),
                duration: d,
            },
            "on_map_start" => Event::MapStart { total: n(0) },
            "on_map_end" => Event::MapEnd { duration: d },
            "on_map_item_start" => Event::MapItemStart { index: n(0) },
            "on_map_item_end" => Event::MapItemEnd {
                index: n(0),
                duration: d,
            },
            "on_map_item_cached" => Event::MapItemCached {
                index: n(0),
                signature: "s",
            },
            other => panic!("unknown hook {other}"),
        };
        cb.on_event(&event, &ctx);
    }
}

#[cfg(feature = "progress")]
#[test]
fn progress_callback_draws_the_shared_bars() {
    for case in cases() {
        let progress = hypernodes::ProgressCallback::hidden();
        deliver(&progress, case["events"].as_array().unwrap());
        let bars: Vec<Json> = (progress.bars().iter())
            .map(|b| {
                serde_json::json!([b.path, b.node, b.done, b.total, b.cached, b.failed, b.finished])
            })
            .collect();
        assert_eq!(Json::Array(bars), case["bars"], "{}", case["name"]);
    }
}

#[cfg(feature = "tracing")]
#[test]
fn tracing_callback_draws_the_shared_tree() {
    use std::sync::{Arc, Mutex};
    use tracing::span::{Attributes, Id, Record};
    use tracing_subscriber::layer::{Context as LayerCtx, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    /// A span as (name, own field, parent index, outcomes recorded later, closed).
    type SpanSeen = (String, String, Option<usize>, Vec<String>, bool);
    /// Every span opened.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<SpanSeen>>>);
    struct Own<'a>(&'a mut String, &'a mut Vec<String>);
    impl tracing::field::Visit for Own<'_> {
        fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
            let v = format!("{v:?}").trim_matches('"').to_string();
            match f.name() {
                "hypernodes.node" | "hypernodes.item_index" => *self.0 = v,
                "hypernodes.pipeline" if self.0.is_empty() => *self.0 = v,
                "hypernodes.cached" if v == "true" => self.1.push("cached".into()),
                "hypernodes.error" => self.1.push("failed".into()),
                _ => {}
            }
        }
    }
    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerCtx<'_, S>) {
            let (mut own, mut later) = (String::new(), Vec::new());
            attrs.record(&mut Own(&mut own, &mut later));
            let parent = (ctx.span(id).and_then(|s| s.parent()))
                .and_then(|p| p.extensions().get::<usize>().copied());
            let mut all = self.0.lock().unwrap();
            all.push((
                attrs.metadata().name().to_string(),
                own,
                parent,
                later,
                false,
            ));
            ctx.span(id).unwrap().extensions_mut().insert(all.len() - 1);
        }
        fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerCtx<'_, S>) {
            if let Some(me) = ctx
                .span(id)
                .and_then(|s| s.extensions().get::<usize>().copied())
            {
                let mut own = String::from("-");
                let mut later = Vec::new();
                values.record(&mut Own(&mut own, &mut later));
                self.0.lock().unwrap()[me].3.extend(later);
            }
        }
        fn on_close(&self, id: Id, ctx: LayerCtx<'_, S>) {
            if let Some(me) = ctx
                .span(&id)
                .and_then(|s| s.extensions().get::<usize>().copied())
            {
                self.0.lock().unwrap()[me].4 = true;
            }
        }
    }

    for case in cases() {
        let seen = Seen::default();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(seen.clone()));
        let cb = hypernodes::TracingCallback::new()
            .with_dispatch(dispatch)
            .with_map_items(true);
        deliver(&cb, case["events"].as_array().unwrap());
        drop(cb);
        let all = seen.0.lock().unwrap().clone();
        fn walk(all: &[SpanSeen], parent: Option<usize>, depth: usize, out: &mut Vec<String>) {
            for (i, (name, own, p, later, closed)) in all.iter().enumerate() {
                if *p != parent {
                    continue;
                }
                let how = match (later.first(), closed) {
                    (Some(h), _) => h.as_str(),
                    (None, true) => "ok",
                    (None, false) => "open",
                };
                out.push(format!("{}{name} {own} {how}", "  ".repeat(depth)));
                walk(all, Some(i), depth + 1, out);
            }
        }
        let mut got = Vec::new();
        walk(&all, None, 0, &mut got);
        let want: Vec<String> = (case["tree"].as_array().unwrap().iter())
            .map(|l| {
                let l = l.as_str().unwrap();
                let (head, rest) = l.split_once(" #").unwrap();
                format!("{head} {}", rest.split_once(' ').unwrap().1)
            })
            .collect();
        assert_eq!(got, want, "{}", case["name"]);
    }
}

#[cfg(any(feature = "progress", feature = "tracing"))]
fn cases() -> Vec<Json> {
    let cases: Json = serde_json::from_str(include_str!("data/run_tree_cases.json")).unwrap();
    cases["cases"].as_array().unwrap().clone()
}
