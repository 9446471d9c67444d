//! One model of a run's tree, shared by every observer that draws it: [`RunTree`] reads a root
//! run's events and tells what opened and closed (pipeline runs, nodes, maps, map items, as
//! [`Change::Open`]/[`Change::Close`]) and how each progress bar stands ([`Change::Bar`]).
//! Renderers only draw: `tracing` spans and `indicatif` bars in Rust, OpenTelemetry spans and
//! `tqdm` bars in Python (through the binding's `RunTree`), with the same span names
//! ([`SpanKind::name`]) and attributes ([`SpanInfo::attributes`]) in both.
//!
//! Every event says where it happened: the pipeline path and the indices of the enclosing map
//! items ([`Where`]). A pipeline run is known by its path and items, a node by those and its name,
//! so concurrent items never take each other's spans. Events that lack the item of their run (a
//! front replaying events without item indices) fall back to the most recent open frame of the
//! same path.
//!
//! Bars: one per pipeline level (keyed by the path) and one per node of that level. A level's bar
//! counts the runs of that pipeline that finished; a node's bar counts the node's completions
//! (computed or cached) with its cache hits and failures. A map adds its items to the totals of its
//! level and of that level's nodes, so a map nested in a mapped pipeline reuses the same bars.
//!
//! The tree of a root run ends ([`Change::Done`]) when the root run ends (`PipelineEnd` or
//! `MapEnd` at depth 0) or fails (an `Error` at depth 0): every open span closes (failed, when the
//! run failed) and every bar is finished. Later events are ignored.

use std::collections::HashMap;

use crate::callbacks::Event;

/// What happened, without the values (see [`Event`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A pipeline run starts (its name).
    PipelineStart(&'a str),
    /// A pipeline run ended.
    PipelineEnd(&'a str),
    /// A node starts.
    NodeStart(&'a str),
    /// A node ended.
    NodeEnd(&'a str),
    /// A node's outputs came from the cache (node, signature).
    NodeCached(&'a str, &'a str),
    /// A node failed (node, message).
    Error(&'a str, String),
    /// A nested pipeline starts (the child's name).
    NestedStart(&'a str),
    /// A nested pipeline ended.
    NestedEnd(&'a str),
    /// A map over this many items starts.
    MapStart(usize),
    /// A map ended.
    MapEnd,
    /// A map item starts.
    ItemStart(usize),
    /// A map item ended.
    ItemEnd(usize),
    /// Every node of a map item was a hit.
    ItemCached(usize),
}

impl<'a> Step<'a> {
    /// The step of an engine event.
    pub fn of(event: &'a Event<'a>) -> Step<'a> {
        match event {
            Event::PipelineStart { pipeline, .. } => Step::PipelineStart(pipeline),
            Event::PipelineEnd { pipeline, .. } => Step::PipelineEnd(pipeline),
            Event::NodeStart { node, .. } => Step::NodeStart(node),
            Event::NodeEnd { node, .. } => Step::NodeEnd(node),
            Event::NodeCached { node, signature } => Step::NodeCached(node, signature),
            Event::Error { node, error } => Step::Error(node, error.to_string()),
            Event::NestedStart { child, .. } => Step::NestedStart(child),
            Event::NestedEnd { child, .. } => Step::NestedEnd(child),
            Event::MapStart { total } => Step::MapStart(*total),
            Event::MapEnd { .. } => Step::MapEnd,
            Event::MapItemStart { index } => Step::ItemStart(*index),
            Event::MapItemEnd { index, .. } => Step::ItemEnd(*index),
            Event::MapItemCached { index, .. } => Step::ItemCached(*index),
        }
    }
}

/// Where an event happened: pipeline names from the root, and the indices of the enclosing map
/// items (outermost first; a map item's own events include its index).
#[derive(Clone, Copy, Debug)]
pub struct Where<'a> {
    /// Pipeline names from the root.
    pub path: &'a [String],
    /// Indices of the enclosing map items.
    pub items: &'a [usize],
}

/// The kind of a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// A pipeline run (root or nested, or a map item's run).
    Pipeline,
    /// A node (computed, or a cache hit).
    Node,
    /// A map.
    Map,
    /// One item of a map.
    Item,
}

impl SpanKind {
    /// The span name, the same in every front: `pipeline`, `node`, `map`, `map_item`.
    pub fn name(self) -> &'static str {
        match self {
            SpanKind::Pipeline => "pipeline",
            SpanKind::Node => "node",
            SpanKind::Map => "map",
            SpanKind::Item => "map_item",
        }
    }
}

/// A span's description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanInfo {
    /// What it is.
    pub kind: SpanKind,
    /// The pipeline it belongs to (a run's own name; a node's, map's or item's pipeline).
    pub pipeline: String,
    /// The node's name (node spans).
    pub node: Option<String>,
    /// Pipeline names from the root.
    pub path: Vec<String>,
    /// Indices of the enclosing map items (an item's own index last).
    pub items: Vec<usize>,
    /// The item count (map spans).
    pub total_items: Option<usize>,
    /// The item's index (item spans).
    pub item_index: Option<usize>,
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attr {
    /// Text.
    Str(String),
    /// A count or index.
    Int(u64),
    /// A flag.
    Bool(bool),
}

impl SpanInfo {
    /// Nesting depth (0 at the root).
    pub fn depth(&self) -> usize {
        self.path.len().saturating_sub(1)
    }

    /// The attributes set when the span opens, the same in every front: `hypernodes.kind`,
    /// `hypernodes.pipeline`, `hypernodes.path` (`/`-joined), `hypernodes.depth`, and
    /// `hypernodes.nested` (pipelines), `hypernodes.node` (nodes), `hypernodes.total_items` (maps),
    /// `hypernodes.item_index` (items); `hypernodes.cached` (nodes, items) is false until a
    /// [`Outcome::Cached`] close sets it.
    pub fn attributes(&self) -> Vec<(&'static str, Attr)> {
        let mut out = vec![
            ("hypernodes.kind", Attr::Str(self.kind.name().into())),
            ("hypernodes.pipeline", Attr::Str(self.pipeline.clone())),
            ("hypernodes.path", Attr::Str(self.path.join("/"))),
            ("hypernodes.depth", Attr::Int(self.depth() as u64)),
        ];
        match self.kind {
            SpanKind::Pipeline => out.push(("hypernodes.nested", Attr::Bool(self.depth() > 0))),
            SpanKind::Node => {
                let node = self.node.clone().unwrap_or_default();
                out.push(("hypernodes.node", Attr::Str(node)));
                out.push(("hypernodes.cached", Attr::Bool(false)));
            }
            SpanKind::Map => {
                let total = self.total_items.unwrap_or(0) as u64;
                out.push(("hypernodes.total_items", Attr::Int(total)));
            }
            SpanKind::Item => {
                let index = self.item_index.unwrap_or(0) as u64;
                out.push(("hypernodes.item_index", Attr::Int(index)));
                out.push(("hypernodes.cached", Attr::Bool(false)));
            }
        }
        out
    }
}

/// How a span closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It ended normally.
    Ok,
    /// A node or item whose outputs all came from the cache (`hypernodes.cached` becomes true).
    Cached,
    /// It failed, or was closed by a failure below or around it (the error message).
    Failed(String),
}

/// A snapshot of one progress bar.
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

/// What an event changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A span opened under `parent` (`None`: a root span, under the caller's current span).
    Open {
        /// The span's id in this tree.
        id: u64,
        /// Its parent's id.
        parent: Option<u64>,
        /// What it is.
        span: SpanInfo,
    },
    /// A span closed (children always close before their parents).
    Close {
        /// The span's id.
        id: u64,
        /// How.
        outcome: Outcome,
    },
    /// Bar number `index` (in opening order) was opened or changed.
    Bar {
        /// The bar's position in opening order.
        index: usize,
        /// Its state now.
        bar: BarInfo,
    },
    /// The root run is over: nothing opens any more.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pipeline,
    Node,
    Nested,
    Map,
    Item,
}

/// An open frame: a span, or a nested pipeline (which has no span of its own: its runs hang under
/// the node's span).
struct Frame {
    id: u64,
    parent: Option<u64>,
    kind: Kind,
    path: Vec<String>,
    items: Vec<usize>,
    /// Pipeline name, node name, nested child name, or item index.
    name: String,
    /// The span to parent children to (a nested frame's node span).
    span: u64,
    /// An ended map item waiting for a possible `ItemCached`.
    pending: bool,
    /// The thread that delivered the frame's last event (an item's `ItemCached` follows its
    /// `ItemEnd` on the same thread).
    thread: std::thread::ThreadId,
}

#[derive(Default)]
struct Level {
    bar: usize,
    /// Map items announced by `MapStart` whose run has not started yet.
    budget: u64,
    /// Node bars of this level.
    nodes: Vec<usize>,
}

/// The model of one root run (see the module documentation). Feed it every event of the run, in
/// delivery order, with [`RunTree::apply`].
#[derive(Default)]
pub struct RunTree {
    frames: Vec<Frame>,
    next: u64,
    root_maps: usize,
    done: bool,
    bars: Vec<BarInfo>,
    levels: HashMap<Vec<String>, Level>,
    node_bars: HashMap<(Vec<String>, String), usize>,
}

impl RunTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the root run is over.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The bars, in opening order.
    pub fn bars(&self) -> &[BarInfo] {
        &self.bars
    }

    /// The best open frame of `kind` at `path` named `name`: the one of the same items, else
    /// (events without item identity) the most recent one.
    fn find(&self, kind: Kind, at: &Where<'_>, name: Option<&str>) -> Option<usize> {
        self.find_in(kind, at.path, at.items, name)
    }

    fn find_in(
        &self,
        kind: Kind,
        path: &[String],
        items: &[usize],
        name: Option<&str>,
    ) -> Option<usize> {
        self.find_exact(kind, path, items, name, false)
    }

    /// As `find_in`; with `exact`, only a frame of the same items.
    fn find_exact(
        &self,
        kind: Kind,
        path: &[String],
        items: &[usize],
        name: Option<&str>,
        exact: bool,
    ) -> Option<usize> {
        self.frames
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !f.pending
                    && f.kind == kind
                    && f.path == path
                    && name.is_none_or(|n| n == f.name)
                    && (!exact || f.items == items)
            })
            .max_by_key(|(i, f)| (f.items == items, *i))
            .map(|(i, _)| i)
    }

    fn open(
        &mut self,
        out: &mut Vec<Change>,
        kind: Kind,
        parent: Option<usize>,
        at: &Where<'_>,
        name: String,
        span: Option<SpanInfo>,
    ) {
        self.next += 1;
        let id = self.next;
        let parent_span = parent.map(|p| self.frames[p].span);
        let parent_id = parent.map(|p| self.frames[p].id);
        let own = match span {
            Some(span) => {
                out.push(Change::Open {
                    id,
                    parent: parent_span,
                    span,
                });
                id
            }
            None => parent_span.unwrap_or(0),
        };
        self.frames.push(Frame {
            id,
            parent: parent_id,
            kind,
            path: at.path.to_vec(),
            items: at.items.to_vec(),
            name,
            span: own,
            pending: false,
            thread: std::thread::current().id(),
        });
    }

    /// Removes the frame at `idx`, closing its span.
    fn close(&mut self, out: &mut Vec<Change>, idx: usize, outcome: Outcome) {
        let f = self.frames.remove(idx);
        if f.kind != Kind::Nested {
            out.push(Change::Close { id: f.id, outcome });
        }
    }

    /// Closes the frame `id` and every open frame below it, children first.
    fn close_tree(&mut self, out: &mut Vec<Change>, id: u64, outcome: Outcome) {
        let mut doomed = vec![id];
        for f in &self.frames {
            // parents open before their children
            if f.parent.is_some_and(|p| doomed.contains(&p)) {
                doomed.push(f.id);
            }
        }
        while let Some(i) = self.frames.iter().rposition(|f| doomed.contains(&f.id)) {
            self.close(out, i, outcome.clone());
        }
    }

    fn span(&self, kind: SpanKind, at: &Where<'_>) -> SpanInfo {
        SpanInfo {
            kind,
            pipeline: at.path.last().cloned().unwrap_or_default(),
            node: None,
            path: at.path.to_vec(),
            items: at.items.to_vec(),
            total_items: None,
            item_index: None,
        }
    }

    /// Where a pipeline run or a map at `at` hangs: the nested pipeline node of the enclosing
    /// pipeline.
    fn nested_parent(&self, at: &Where<'_>) -> Option<usize> {
        self.nested_parent_exact(at, false)
    }

    fn nested_parent_exact(&self, at: &Where<'_>, exact: bool) -> Option<usize> {
        match at.path.split_last() {
            Some((child, outer)) if !outer.is_empty() => {
                self.find_exact(Kind::Nested, outer, at.items, Some(child), exact)
            }
            _ => None,
        }
    }

    /// Reads one event at `at` and returns what changed.
    pub fn apply(&mut self, step: &Step<'_>, at: Where<'_>) -> Vec<Change> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let root = at.path.len() <= 1;
        if !matches!(step, Step::ItemCached(_)) {
            // Items this thread ended are not cached: `ItemCached` comes right after `ItemEnd`.
            let me = std::thread::current().id();
            while let Some(i) = self.frames.iter().position(|f| f.pending && f.thread == me) {
                self.close(&mut out, i, Outcome::Ok);
            }
        }
        let mut finished: Option<Outcome> = None;
        match step {
            Step::PipelineStart(name) => {
                // A map item's run, else a nested pipeline's: exact places first; an event
                // without its item's index (a map of this place is open) takes the latest item.
                let parent = (self.find_exact(Kind::Item, at.path, at.items, None, true))
                    .or_else(|| {
                        let map = self.find_exact(Kind::Map, at.path, at.items, None, true);
                        map.and_then(|_| self.find(Kind::Item, &at, None))
                    })
                    .or_else(|| self.nested_parent_exact(&at, true))
                    .or_else(|| self.find(Kind::Item, &at, None))
                    .or_else(|| self.nested_parent(&at));
                let mut span = self.span(SpanKind::Pipeline, &at);
                span.pipeline = name.to_string();
                self.open(
                    &mut out,
                    Kind::Pipeline,
                    parent,
                    &at,
                    name.to_string(),
                    Some(span),
                );
                let level = self.level(&mut out, at.path);
                if level.budget > 0 {
                    level.budget -= 1;
                } else {
                    self.grow(&mut out, at.path, 1);
                }
            }
            Step::PipelineEnd(name) => {
                if let Some(i) = self.find(Kind::Pipeline, &at, Some(name)) {
                    self.close(&mut out, i, Outcome::Ok);
                }
                let bar = self.level(&mut out, at.path).bar;
                self.bump(&mut out, bar, |b| b.done += 1);
                if root && self.root_maps == 0 {
                    finished = Some(Outcome::Ok);
                }
            }
            Step::NodeStart(node) | Step::NodeCached(node, _) => {
                let bar = self.node_bar(&mut out, at.path, node);
                if let Some(p) = self.find(Kind::Pipeline, &at, None) {
                    let mut span = self.span(SpanKind::Node, &at);
                    span.node = Some(node.to_string());
                    self.open(
                        &mut out,
                        Kind::Node,
                        Some(p),
                        &at,
                        node.to_string(),
                        Some(span),
                    );
                    if matches!(step, Step::NodeCached(..)) {
                        let i = self.frames.len() - 1;
                        self.close(&mut out, i, Outcome::Cached);
                    }
                }
                if matches!(step, Step::NodeCached(..)) {
                    self.bump(&mut out, bar, |b| {
                        b.done += 1;
                        b.cached += 1;
                    });
                }
            }
            Step::NodeEnd(node) => {
                if let Some(i) = self.find(Kind::Node, &at, Some(node)) {
                    self.close(&mut out, i, Outcome::Ok);
                }
                let bar = self.node_bar(&mut out, at.path, node);
                self.bump(&mut out, bar, |b| b.done += 1);
            }
            Step::Error(node, message) => {
                if let Some(i) = self.find(Kind::Node, &at, Some(node)) {
                    let id = self.frames[i].id;
                    self.close_tree(&mut out, id, Outcome::Failed(message.clone()));
                }
                let bar = self.node_bar(&mut out, at.path, node);
                self.bump(&mut out, bar, |b| b.failed += 1);
                if root {
                    // An error at depth 0 ends the root run: nothing else will close its spans.
                    finished = Some(Outcome::Failed(message.clone()));
                }
            }
            Step::NestedStart(child) => {
                if let Some(p) = self.find(Kind::Node, &at, None) {
                    self.open(
                        &mut out,
                        Kind::Nested,
                        Some(p),
                        &at,
                        child.to_string(),
                        None,
                    );
                }
            }
            Step::NestedEnd(child) => {
                if let Some(i) = self.find(Kind::Nested, &at, Some(child)) {
                    self.close(&mut out, i, Outcome::Ok);
                }
            }
            Step::MapStart(total) => {
                let parent = self.nested_parent(&at);
                let mut span = self.span(SpanKind::Map, &at);
                span.total_items = Some(*total);
                let name = span.pipeline.clone();
                self.open(&mut out, Kind::Map, parent, &at, name, Some(span));
                if root {
                    self.root_maps += 1;
                }
                self.level(&mut out, at.path).budget += *total as u64;
                self.grow(&mut out, at.path, *total as u64);
            }
            Step::MapEnd => {
                if let Some(i) = self.find(Kind::Map, &at, None) {
                    let id = self.frames[i].id;
                    self.close_tree(&mut out, id, Outcome::Ok);
                }
                if root {
                    self.root_maps = self.root_maps.saturating_sub(1);
                    if self.root_maps == 0 {
                        finished = Some(Outcome::Ok);
                    }
                }
            }
            Step::ItemStart(index) => {
                // The map is at the item's enclosing items; an event without the item's own index
                // (a replay) names the map's items itself.
                let (map_items, item_items) = match at.items.split_last() {
                    Some((last, outer)) if last == index => (outer.to_vec(), at.items.to_vec()),
                    _ => (at.items.to_vec(), [at.items, &[*index]].concat()),
                };
                if let Some(p) = self.find_in(Kind::Map, at.path, &map_items, None) {
                    let here = Where {
                        path: at.path,
                        items: &item_items,
                    };
                    let mut span = self.span(SpanKind::Item, &here);
                    span.item_index = Some(*index);
                    self.open(
                        &mut out,
                        Kind::Item,
                        Some(p),
                        &here,
                        index.to_string(),
                        Some(span),
                    );
                }
            }
            Step::ItemEnd(index) => {
                if let Some(i) = self.find_item(&at, *index, false) {
                    self.frames[i].pending = true;
                    self.frames[i].thread = std::thread::current().id();
                }
            }
            Step::ItemCached(index) => {
                if let Some(i) = self.find_item(&at, *index, true) {
                    self.close(&mut out, i, Outcome::Cached);
                }
                let bar = self.level(&mut out, at.path).bar;
                self.bump(&mut out, bar, |b| b.cached += 1);
            }
        }
        if let Some(outcome) = finished {
            while !self.frames.is_empty() {
                let i = self.frames.len() - 1;
                self.close(&mut out, i, outcome.clone());
            }
            for i in 0..self.bars.len() {
                self.bump(&mut out, i, |b| b.finished = true);
            }
            self.done = true;
            out.push(Change::Done);
        }
        out
    }

    fn find_item(&self, at: &Where<'_>, index: usize, pending: bool) -> Option<usize> {
        let name = index.to_string();
        self.frames
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.pending == pending && f.kind == Kind::Item && f.path == at.path && f.name == name
            })
            .max_by_key(|(i, f)| {
                (
                    f.items == at.items || f.items[..f.items.len() - 1] == *at.items,
                    *i,
                )
            })
            .map(|(i, _)| i)
    }

    fn bump(&mut self, out: &mut Vec<Change>, index: usize, f: impl FnOnce(&mut BarInfo)) {
        let bar = &mut self.bars[index];
        f(bar);
        out.push(Change::Bar {
            index,
            bar: bar.clone(),
        });
    }

    fn new_bar(
        &mut self,
        out: &mut Vec<Change>,
        path: &[String],
        node: Option<&str>,
        total: u64,
    ) -> usize {
        self.bars.push(BarInfo {
            path: path.to_vec(),
            node: node.map(String::from),
            done: 0,
            total,
            cached: 0,
            failed: 0,
            finished: false,
        });
        let index = self.bars.len() - 1;
        self.bump(out, index, |_| {});
        index
    }

    /// The level at `path`, with its bar opened (total 0) when first seen.
    fn level(&mut self, out: &mut Vec<Change>, path: &[String]) -> &mut Level {
        if !self.levels.contains_key(path) {
            let bar = self.new_bar(out, path, None, 0);
            self.levels.insert(
                path.to_vec(),
                Level {
                    bar,
                    ..Level::default()
                },
            );
        }
        self.levels.get_mut(path).expect("inserted above")
    }

    /// Adds `n` expected runs to the level at `path` and to each of its nodes.
    fn grow(&mut self, out: &mut Vec<Change>, path: &[String], n: u64) {
        let level = self.level(out, path);
        let bars: Vec<usize> = [level.bar].into_iter().chain(level.nodes.clone()).collect();
        for b in bars {
            self.bump(out, b, |b| b.total += n);
        }
    }

    /// The bar of node `node` at `path`, opened with the level's total when first seen.
    fn node_bar(&mut self, out: &mut Vec<Change>, path: &[String], node: &str) -> usize {
        let key = (path.to_vec(), node.to_string());
        if let Some(b) = self.node_bars.get(&key) {
            return *b;
        }
        let level_bar = self.level(out, path).bar;
        let total = self.bars[level_bar].total.max(1);
        let b = self.new_bar(out, path, Some(node), total);
        self.levels
            .get_mut(path)
            .expect("opened above")
            .nodes
            .push(b);
        self.node_bars.insert(key, b);
        b
    }
}

/// The trees of the root runs one observer sees, each with the observer's own drawing state `T`
/// (spans, bars). Runs that ended leave; runs dropped without ending (their address may be reused)
/// are handed back once a new root run starts.
#[cfg(any(feature = "progress", feature = "tracing"))]
pub(crate) struct PerRun<T> {
    runs: HashMap<usize, (std::sync::Weak<crate::context::RunState>, RunTree, T)>,
}

#[cfg(any(feature = "progress", feature = "tracing"))]
impl<T> Default for PerRun<T> {
    fn default() -> Self {
        PerRun {
            runs: HashMap::new(),
        }
    }
}

#[cfg(any(feature = "progress", feature = "tracing"))]
impl<T: Default> PerRun<T> {
    /// Feeds `event` to the tree of `ctx`'s root run and returns the changes with that run's
    /// drawing state; runs gone without ending go to `gone` first.
    pub(crate) fn apply(
        &mut self,
        event: &Event<'_>,
        ctx: &crate::context::Context,
        mut gone: impl FnMut(RunTree, T),
    ) -> (Vec<Change>, &RunTree, &mut T) {
        let key = std::sync::Arc::as_ptr(&ctx.run) as usize;
        if ctx.depth() == 0 && matches!(event, Event::MapStart { .. } | Event::PipelineStart { .. })
        {
            let dead: Vec<usize> = (self.runs.iter())
                .filter(|(_, (alive, _, _))| alive.strong_count() == 0)
                .map(|(k, _)| *k)
                .collect();
            for k in dead {
                let (_, tree, state) = self.runs.remove(&k).expect("listed above");
                gone(tree, state);
            }
        }
        let (_, tree, state) = self.runs.entry(key).or_insert_with(|| {
            (
                std::sync::Arc::downgrade(&ctx.run),
                RunTree::new(),
                T::default(),
            )
        });
        let path = ctx.path_strings();
        let at = Where {
            path: &path,
            items: &ctx.items,
        };
        let changes = tree.apply(&Step::of(event), at);
        (changes, tree, state)
    }

    /// The trees still open, with their states.
    pub(crate) fn open(&self) -> impl Iterator<Item = (&RunTree, &T)> {
        self.runs
            .values()
            .filter(|(_, t, _)| !t.is_done())
            .map(|(_, t, s)| (t, s))
    }
}
