//! Progress bars for runs and maps, drawn with `indicatif`.
//!
//! One bar per pipeline level (keyed by the hierarchy path of pipeline names) and one per node of
//! that level (keyed by the path and the node's name). A level's bar counts the runs of that
//! pipeline that finished; a node's bar counts the node's completions (computed or read from the
//! cache) and shows how many were cache hits. A map adds its items to the totals of its level and
//! of that level's nodes: a map nested in a mapped pipeline reuses the same bars for every item of
//! the outer map (their totals grow with each inner `MapStart`) instead of opening bars per item.
//!
//! The bars of one root run close when it ends (`PipelineEnd` or `MapEnd` at depth 0) or fails
//! (an `Error` at depth 0). Each root run has its own bars, so concurrent root runs sharing one
//! `ProgressCallback` do not mix.
//!
//! ```no_run
//! use std::sync::Arc;
//! use hypernodes::progress::ProgressCallback;
//! use hypernodes::{Callbacks, Pipeline, Setting};
//! # fn demo(pipeline: Pipeline) {
//! let cb: Arc<dyn hypernodes::Callback> = Arc::new(ProgressCallback::new());
//! let pipeline = pipeline.with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![cb]))));
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::callbacks::{Callback, Event};
use crate::context::{Context, RunState};

const TEMPLATE: &str = "{prefix} [{bar:25}] {pos}/{len} [{elapsed_precise}, {per_sec}] {msg}";

/// A snapshot of one bar (see [`ProgressCallback::bars`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarInfo {
    /// Pipeline names from the root to the bar's level.
    pub path: Vec<String>,
    /// The node's name for a node bar; `None` for the level's own bar.
    pub node: Option<String>,
    /// Completions counted so far (finished runs for a level, computed or cached calls for a node).
    pub done: u64,
    /// The expected total.
    pub total: u64,
    /// Cache hits (cached nodes; for a level, map items whose every node was a hit).
    pub cached: u64,
    /// Failures (nodes that raised).
    pub failed: u64,
    /// Whether the bar was closed.
    pub finished: bool,
}

struct Bar {
    bar: ProgressBar,
    info: BarInfo,
}

impl Bar {
    fn refresh(&self) {
        self.bar.set_length(self.info.total);
        self.bar.set_position(self.info.done);
        let mut parts = Vec::new();
        if self.info.cached > 0 {
            parts.push(format!("{} cached", self.info.cached));
        }
        if self.info.failed > 0 {
            parts.push(format!("{} failed", self.info.failed));
        }
        self.bar.set_message(parts.join(", "));
    }

    fn close(&mut self) {
        self.info.finished = true;
        self.refresh();
        if self.info.failed > 0 {
            self.bar.abandon();
        } else {
            self.bar.finish();
        }
    }
}

#[derive(Default)]
struct Level {
    bar: Option<Bar>,
    /// Map items announced by `MapStart` whose run has not started yet.
    budget: u64,
    /// Node bars of this level, in creation order.
    nodes: Vec<String>,
}

struct Run {
    alive: Weak<RunState>,
    levels: HashMap<Vec<String>, Level>,
    node_bars: HashMap<(Vec<String>, String), Bar>,
    order: Vec<(Vec<String>, Option<String>)>,
    /// Open maps at depth 0 (a root map's item runs end at depth 0 without ending the root run).
    root_maps: usize,
    /// The root run ended (or failed) and its bars are closed: later events (of nodes still
    /// running after a failure) are ignored.
    done: bool,
}

#[derive(Default)]
struct State {
    runs: HashMap<usize, Run>,
    last: Vec<BarInfo>,
}

/// Progress bars (indicatif) for every pipeline level and node of a run or map. See the module
/// documentation for what the bars count.
pub struct ProgressCallback {
    multi: MultiProgress,
    style: ProgressStyle,
    state: Mutex<State>,
}

impl Default for ProgressCallback {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressCallback {
    /// Bars drawn on standard error.
    pub fn new() -> Self {
        Self::with_draw_target(ProgressDrawTarget::stderr())
    }

    /// Bars that are tracked but never drawn (for tests and for reading [`ProgressCallback::bars`]).
    pub fn hidden() -> Self {
        Self::with_draw_target(ProgressDrawTarget::hidden())
    }

    /// Bars drawn on the given target.
    pub fn with_draw_target(target: ProgressDrawTarget) -> Self {
        ProgressCallback {
            multi: MultiProgress::with_draw_target(target),
            style: ProgressStyle::with_template(TEMPLATE)
                .expect("the progress template is valid")
                .progress_chars("=> "),
            state: Mutex::new(State::default()),
        }
    }

    /// The bars of the root runs in progress, then those of the last root run that ended, in the
    /// order they were opened.
    pub fn bars(&self) -> Vec<BarInfo> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<BarInfo> = state
            .runs
            .values()
            .filter(|r| !r.done)
            .flat_map(Run::snapshot)
            .collect();
        out.extend(state.last.iter().cloned());
        out
    }

    fn new_bar(&self, path: &[String], node: Option<&str>, total: u64) -> Bar {
        let indent = "  ".repeat(path.len() - 1 + usize::from(node.is_some()));
        let label = match node {
            Some(n) => n.to_string(),
            None => path.join(" › "),
        };
        let bar = self.multi.add(
            ProgressBar::new(total)
                .with_style(self.style.clone())
                .with_prefix(format!("{indent}{label}")),
        );
        Bar {
            bar,
            info: BarInfo {
                path: path.to_vec(),
                node: node.map(String::from),
                done: 0,
                total,
                cached: 0,
                failed: 0,
                finished: false,
            },
        }
    }

    fn handle(&self, state: &mut State, event: &Event<'_>, ctx: &Context) {
        let key = Arc::as_ptr(&ctx.run) as usize;
        let root = ctx.depth() == 0;
        if root && matches!(event, Event::MapStart { .. } | Event::PipelineStart { .. }) {
            // A root run starts (or an item of a root map): close the bars of runs that are gone
            // without ending (their address may be reused by this one).
            let dead: Vec<usize> = state
                .runs
                .iter()
                .filter(|(_, r)| r.alive.strong_count() == 0)
                .map(|(k, _)| *k)
                .collect();
            for k in dead {
                let mut old = state.runs.remove(&k).expect("listed above");
                if !old.done {
                    state.last = old.close_all();
                }
            }
        }
        let run = state.runs.entry(key).or_insert_with(|| Run {
            alive: Arc::downgrade(&ctx.run),
            levels: HashMap::new(),
            node_bars: HashMap::new(),
            order: Vec::new(),
            root_maps: 0,
            done: false,
        });
        if run.done {
            return;
        }
        let path = ctx.path_strings();
        let mut finish = false;
        match event {
            Event::MapStart { total } => {
                if root {
                    run.root_maps += 1;
                }
                let total = *total as u64;
                let level = self.level(run, &path);
                level.budget += total;
                self.grow(run, &path, total);
            }
            Event::PipelineStart { .. } => {
                let level = self.level(run, &path);
                if level.budget > 0 {
                    level.budget -= 1;
                } else {
                    self.grow(run, &path, 1);
                }
            }
            Event::PipelineEnd { .. } => {
                let level = self.level(run, &path);
                if let Some(bar) = level.bar.as_mut() {
                    bar.info.done += 1;
                    bar.refresh();
                }
                finish = root && run.root_maps == 0;
            }
            Event::MapItemCached { .. } => {
                if let Some(bar) = self.level(run, &path).bar.as_mut() {
                    bar.info.cached += 1;
                    bar.refresh();
                }
            }
            Event::MapEnd { .. } => {
                if root {
                    run.root_maps = run.root_maps.saturating_sub(1);
                    finish = run.root_maps == 0;
                }
            }
            Event::NodeStart { node, .. } => {
                self.node_bar(run, &path, node);
            }
            Event::NodeEnd { node, .. } => {
                let bar = self.node_bar(run, &path, node);
                bar.info.done += 1;
                bar.refresh();
            }
            Event::NodeCached { node, .. } => {
                let bar = self.node_bar(run, &path, node);
                bar.info.done += 1;
                bar.info.cached += 1;
                bar.refresh();
            }
            Event::Error { node, .. } => {
                let bar = self.node_bar(run, &path, node);
                bar.info.failed += 1;
                bar.refresh();
                // An error at depth 0 ends the root run: nothing else will close its bars.
                finish = root;
            }
            Event::NestedStart { .. }
            | Event::NestedEnd { .. }
            | Event::MapItemStart { .. }
            | Event::MapItemEnd { .. } => {}
        }
        if finish {
            state.last = run.close_all();
            run.done = true;
            run.levels.clear();
            run.node_bars.clear();
            run.order.clear();
        }
    }

    /// The level at `path`, with its bar opened (total 0) when first seen.
    fn level<'r>(&self, run: &'r mut Run, path: &[String]) -> &'r mut Level {
        if !run.levels.contains_key(path) {
            let bar = self.new_bar(path, None, 0);
            run.order.push((path.to_vec(), None));
            run.levels.insert(
                path.to_vec(),
                Level {
                    bar: Some(bar),
                    ..Level::default()
                },
            );
        }
        run.levels.get_mut(path).expect("inserted above")
    }

    /// Adds `n` expected runs to the level at `path` and to each of its nodes.
    fn grow(&self, run: &mut Run, path: &[String], n: u64) {
        let level = self.level(run, path);
        if let Some(bar) = level.bar.as_mut() {
            bar.info.total += n;
            bar.refresh();
        }
        let nodes = level.nodes.clone();
        for node in nodes {
            if let Some(bar) = run.node_bars.get_mut(&(path.to_vec(), node)) {
                bar.info.total += n;
                bar.refresh();
            }
        }
    }

    /// The bar of node `node` at `path`, opened with the level's total when first seen.
    fn node_bar<'r>(&self, run: &'r mut Run, path: &[String], node: &str) -> &'r mut Bar {
        let key = (path.to_vec(), node.to_string());
        if !run.node_bars.contains_key(&key) {
            let level = self.level(run, path);
            let total = level.bar.as_ref().map_or(1, |b| b.info.total.max(1));
            level.nodes.push(node.to_string());
            let bar = self.new_bar(path, Some(node), total);
            run.order.push((path.to_vec(), Some(node.to_string())));
            run.node_bars.insert(key.clone(), bar);
        }
        run.node_bars.get_mut(&key).expect("inserted above")
    }
}

impl Run {
    fn bar(&self, key: &(Vec<String>, Option<String>)) -> Option<&Bar> {
        match &key.1 {
            None => self.levels.get(&key.0).and_then(|l| l.bar.as_ref()),
            Some(n) => self.node_bars.get(&(key.0.clone(), n.clone())),
        }
    }

    fn snapshot(&self) -> Vec<BarInfo> {
        self.order
            .iter()
            .filter_map(|k| self.bar(k).map(|b| b.info.clone()))
            .collect()
    }

    /// Closes every bar of the run and returns their final state.
    fn close_all(&mut self) -> Vec<BarInfo> {
        for level in self.levels.values_mut() {
            if let Some(bar) = level.bar.as_mut() {
                bar.close();
            }
        }
        for bar in self.node_bars.values_mut() {
            bar.close();
        }
        self.snapshot()
    }
}

impl Callback for ProgressCallback {
    fn on_event(&self, event: &Event<'_>, ctx: &Context) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.handle(&mut state, event, ctx);
    }
}
