//! Progress bars for runs and maps, drawn with `indicatif` from the engine's model of the run
//! ([`crate::observe::RunTree`], which counts; this module only draws), as the Python
//! `ProgressCallback` draws them with tqdm.
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
//! use hypernodes::ProgressCallback;
//! use hypernodes::{Callbacks, Pipeline, Setting};
//! # fn demo(pipeline: Pipeline) {
//! let cb: Arc<dyn hypernodes::Callback> = Arc::new(ProgressCallback::new());
//! let pipeline = pipeline.with_callbacks(Setting::On(Arc::new(Callbacks::new(vec![cb]))));
//! # }
//! ```

use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::callbacks::{Callback, Event};
use crate::context::Context;
use crate::observe::{Change, PerRun};

pub(crate) use crate::observe::BarInfo;

const TEMPLATE: &str = "{prefix} [{bar:25}] {pos}/{len} [{elapsed_precise}, {per_sec}] {msg}";

/// The drawn bars of one root run, in opening order.
#[derive(Default)]
struct Bars(Vec<ProgressBar>);

#[derive(Default)]
struct State {
    runs: PerRun<Bars>,
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
        let mut out: Vec<BarInfo> = (state.runs.open())
            .flat_map(|(tree, _)| tree.bars().iter().cloned())
            .collect();
        out.extend(state.last.iter().cloned());
        out
    }

    fn draw(&self, bars: &mut Bars, index: usize, info: &BarInfo) {
        if index == bars.0.len() {
            let indent = "  ".repeat(info.path.len() - 1 + usize::from(info.node.is_some()));
            let label = info.node.clone().unwrap_or_else(|| info.path.join(" › "));
            let bar = ProgressBar::new(info.total)
                .with_style(self.style.clone())
                .with_prefix(format!("{indent}{label}"));
            bars.0.push(self.multi.add(bar));
        }
        let bar = &bars.0[index];
        bar.set_length(info.total);
        bar.set_position(info.done);
        let mut parts = Vec::new();
        if info.cached > 0 {
            parts.push(format!("{} cached", info.cached));
        }
        if info.failed > 0 {
            parts.push(format!("{} failed", info.failed));
        }
        bar.set_message(parts.join(", "));
        match (info.finished, info.failed > 0) {
            (false, _) => {}
            (true, true) => bar.abandon(),
            (true, false) => bar.finish(),
        }
    }
}

impl Callback for ProgressCallback {
    fn on_event(&self, event: &Event<'_>, ctx: &Context) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { runs, last } = &mut *state;
        let mut gone = Vec::new();
        let (changes, tree, bars) = runs.apply(event, ctx, |tree, bars| {
            if !tree.is_done() {
                // a run dropped without ending: its bars close as they stand
                for b in &bars.0 {
                    b.abandon();
                }
                gone = tree
                    .bars()
                    .iter()
                    .map(|b| BarInfo {
                        finished: true,
                        ..b.clone()
                    })
                    .collect();
            }
        });
        if !gone.is_empty() {
            *last = gone;
        }
        for change in changes {
            match change {
                Change::Bar { index, bar } => self.draw(bars, index, &bar),
                Change::Done => *last = tree.bars().to_vec(),
                Change::Open { .. } | Change::Close { .. } => {}
            }
        }
    }
}
