//! The engine's run-tree model fed the event sequences of `tests/data/run_tree_cases.json`, which
//! the Python front feeds to the same model through the binding (`python/tests/test_observe.py`):
//! both must give the same span tree and the same bars.

use std::collections::HashMap;

use hypernodes::observe::{Change, Outcome, RunTree, SpanKind, Step, Where};
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
        opened: &[(u64, Option<u64>, hypernodes::observe::SpanInfo)],
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
