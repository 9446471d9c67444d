//! Python callbacks: one engine callback that delivers each event to a list of `hypernodes.Callback`
//! objects through `hypernodes.callbacks._dispatch`, with one `CallbackContext` per root run.

use std::sync::Arc;

use hypernodes::executor_api::Context;
use hypernodes::{Callback, Error, Event, Value};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::values::to_py;

/// The Python callbacks of a pipeline.
pub struct PyCallbacks {
    pub list: Py<PyList>,
}

fn named<'py>(py: Python<'py>, items: &[(Arc<str>, Value)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in items {
        d.set_item(&**k, to_py(py, v))?;
    }
    Ok(d)
}

fn error_obj<'py>(py: Python<'py>, e: &Error) -> Bound<'py, PyAny> {
    // a node's own error, or one a worker or framework executor carried back (a nested
    // pipeline's, replayed): the Python exception itself
    let source = match e {
        Error::Foreign(source) => Some(source),
        _ => e.node_source(),
    };
    if let Some(src) = source {
        if let Some(pyerr) = src.downcast_ref::<PyErr>() {
            return pyerr.value(py).clone().into_any();
        }
    }
    let err = crate::errors::HyperNodesError::new_err(e.to_string());
    err.value(py).clone().into_any()
}

fn event_args<'py>(
    py: Python<'py>,
    event: &Event<'_>,
) -> PyResult<(&'static str, Bound<'py, PyTuple>)> {
    let secs = |d: &std::time::Duration| d.as_secs_f64();
    Ok(match event {
        Event::PipelineStart { pipeline, inputs } => (
            "on_pipeline_start",
            (*pipeline, named(py, inputs)?).into_pyobject(py)?,
        ),
        Event::PipelineEnd {
            pipeline,
            outputs,
            duration,
        } => (
            "on_pipeline_end",
            (*pipeline, named(py, outputs)?, secs(duration)).into_pyobject(py)?,
        ),
        Event::NodeStart { node, inputs } => (
            "on_node_start",
            (*node, named(py, inputs)?).into_pyobject(py)?,
        ),
        Event::NodeEnd {
            node,
            outputs,
            duration,
        } => (
            "on_node_end",
            (*node, named(py, outputs)?, secs(duration)).into_pyobject(py)?,
        ),
        Event::NodeCached { node, signature } => {
            ("on_node_cached", (*node, *signature).into_pyobject(py)?)
        }
        Event::Error { node, error } => {
            ("on_error", (*node, error_obj(py, error)).into_pyobject(py)?)
        }
        Event::NestedStart { parent, child } => (
            "on_nested_pipeline_start",
            (*parent, *child).into_pyobject(py)?,
        ),
        Event::NestedEnd {
            parent,
            child,
            duration,
        } => (
            "on_nested_pipeline_end",
            (*parent, *child, secs(duration)).into_pyobject(py)?,
        ),
        Event::MapStart { total } => ("on_map_start", (*total,).into_pyobject(py)?),
        Event::MapEnd { duration } => ("on_map_end", (secs(duration),).into_pyobject(py)?),
        Event::MapItemStart { index } => ("on_map_item_start", (*index,).into_pyobject(py)?),
        Event::MapItemEnd { index, duration } => (
            "on_map_item_end",
            (*index, secs(duration)).into_pyobject(py)?,
        ),
        Event::MapItemCached { index, signature } => (
            "on_map_item_cached",
            (*index, *signature).into_pyobject(py)?,
        ),
    })
}

/// A run's callback state in a worker process of a parallel map: its events are appended to this
/// list as `(hook, args, path, items)`, to be replayed in the caller's process
/// (`hypernodes._parallel`), instead of being delivered.
struct Recording(Py<PyList>);

/// Makes every Python callback event of the run of `ctx` a record in `events` (see [`Recording`]).
/// `ctx` must be a fresh root context whose run has delivered nothing yet.
pub(crate) fn record_into(ctx: &Context, events: Py<PyList>) {
    let state: Arc<dyn std::any::Any + Send + Sync> = Arc::new(Recording(events));
    let fresh = ctx.run_state().callback_state().set(state).is_ok();
    debug_assert!(fresh, "record_into: the run already has its callback state");
}

impl PyCallbacks {
    /// Delivers one event, given as a hook name and its arguments, at `path` (within the map items
    /// of `ctx`).
    pub fn dispatch(
        &self,
        py: Python<'_>,
        ctx: &Context,
        path: Vec<String>,
        hook: &str,
        args: Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        self.dispatch_at(py, ctx, path, ctx.items(), hook, args)
    }

    /// Delivers one event, given as a hook name and its arguments, at `path` within the map items
    /// `items` (indices, outermost first).
    pub fn dispatch_at(
        &self,
        py: Python<'_>,
        ctx: &Context,
        path: Vec<String>,
        items: &[usize],
        hook: &str,
        args: Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        // Events a front replays take the engine's delivery lock too: one lock for every event.
        hypernodes::for_binding::delivering(|| self.deliver(py, ctx, path, items, hook, args))
    }

    fn deliver(
        &self,
        py: Python<'_>,
        ctx: &Context,
        path: Vec<String>,
        items: &[usize],
        hook: &str,
        args: Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        let m = crate::py_modules::callbacks(py)?;
        // Not `get_or_init`: building it runs Python (see `hypernodes::memo`).
        let state = hypernodes::for_binding::memoize(ctx.run_state().callback_state(), || {
            let obj = m
                .getattr("CallbackContext")
                .and_then(|c| c.call0())
                .map(|o| o.unbind())
                .unwrap_or_else(|_| py.None());
            Arc::new(obj) as Arc<dyn std::any::Any + Send + Sync>
        });
        if let Some(Recording(events)) = state.downcast_ref::<Recording>() {
            let event = (hook, args, path, items.to_vec());
            return events.bind(py).append(event);
        }
        let cbctx = state
            .downcast_ref::<Py<PyAny>>()
            .map(|o| o.bind(py).clone())
            .unwrap_or_else(|| py.None().into_bound(py));
        m.getattr("_dispatch")?.call1((
            self.list.bind(py),
            cbctx,
            path,
            hook,
            args,
            items.to_vec(),
        ))?;
        Ok(())
    }
}

impl Callback for PyCallbacks {
    fn on_event(&self, event: &Event<'_>, ctx: &Context) {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let (hook, args) = event_args(py, event)?;
                self.dispatch(py, ctx, ctx.path_strings(), hook, args)
            };
            if let Err(e) = run() {
                e.write_unraisable(py, None);
            }
        })
    }
}

/// The callbacks in effect at `rel` (pipeline names below `pipeline`, which `rel[0]` names), starting
/// from `root` (those in effect at `pipeline`): each nested pipeline's own setting applies below it.
fn callbacks_at(
    pipeline: &hypernodes::Pipeline,
    root: Option<&Arc<hypernodes::Callbacks>>,
    rel: &[String],
) -> Option<Arc<hypernodes::Callbacks>> {
    let mut current = pipeline.clone();
    let mut cbs = root.cloned();
    for name in rel.iter().skip(1) {
        let next = current.nodes().iter().find_map(|n| match n.kind() {
            hypernodes::NodeKind::Pipeline(pn) if pn.pipeline.name() == name => {
                Some(pn.pipeline.clone())
            }
            _ => None,
        })?;
        match next.callbacks_setting() {
            hypernodes::Setting::Inherit => {}
            hypernodes::Setting::Off => cbs = None,
            hypernodes::Setting::On(c) => cbs = Some(c.clone()),
        }
        current = next;
    }
    cbs
}

/// Delivers one event, given as a hook name and its arguments, to every Python callback of `cbs`
/// at `path` within the map items `items` (the one loop for events a front replays or emits).
pub fn deliver_to(
    py: Python<'_>,
    cbs: &hypernodes::Callbacks,
    ctx: &Context,
    path: &[String],
    items: &[usize],
    hook: &str,
    args: &Bound<'_, PyTuple>,
) -> PyResult<()> {
    for cb in cbs.list() {
        let any: &dyn std::any::Any = cb.as_ref();
        if let Some(p) = any.downcast_ref::<PyCallbacks>() {
            p.dispatch_at(py, ctx, path.to_vec(), items, hook, args.clone())?;
        }
    }
    Ok(())
}

/// Replays events recorded in worker processes (`(hook, args, path, items)`, each path from the
/// root and the enclosing item indices, as the worker resumed the map at the caller's origin) into the callbacks in effect at each event's
/// place, in the caller's process. `pipeline` is the mapped pipeline, the last name of `ctx.path`.
pub fn replay(
    py: Python<'_>,
    ctx: &Context,
    pipeline: &hypernodes::Pipeline,
    events: &Bound<'_, PyList>,
) -> PyResult<()> {
    let prefix = ctx.path().len() - 1;
    for ev in events.iter() {
        let (hook, args, path, items): (String, Bound<'_, PyTuple>, Vec<String>, Vec<usize>) =
            ev.extract()?;
        let rel = path.get(prefix..).unwrap_or(&[]);
        let Some(cbs) = callbacks_at(pipeline, ctx.callbacks(), rel) else {
            continue;
        };
        deliver_to(py, &cbs, ctx, &path, &items, &hook, &args)?;
    }
    Ok(())
}
