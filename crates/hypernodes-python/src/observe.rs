//! `hypernodes._core.RunTree`: the engine's model of one root run ([`hypernodes::observe`]) for
//! the Python renderers (`progress.py` draws its bars, `telemetry.py` its spans). Fed with the
//! callback hooks as they arrive; answers with what opened, closed and changed.

use std::sync::Mutex;

use hypernodes::{Attr, Change, Outcome, RunTree, Step};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// The model of one root run's tree: spans and progress bars. A renderer asks only for the
/// changes it draws (`spans`, `bars`): the others are not converted to Python.
#[pyclass(name = "RunTree", module = "hypernodes._core")]
pub struct PyRunTree {
    tree: Mutex<RunTree>,
    spans: bool,
    bars: bool,
}

/// `"TypeName: message"` for an exception, else its text.
fn message(error: &Bound<'_, PyAny>) -> PyResult<String> {
    let text = error.str()?.to_string();
    Ok(
        match error.is_instance_of::<pyo3::exceptions::PyBaseException>() {
            true => format!("{}: {text}", error.get_type().name()?),
            false => text,
        },
    )
}

fn change<'py>(py: Python<'py>, c: &Change) -> PyResult<Bound<'py, PyTuple>> {
    Ok(match c {
        Change::Open { id, parent, span } => {
            let attrs = PyDict::new(py);
            for (k, v) in span.attributes() {
                match v {
                    Attr::Str(s) => attrs.set_item(k, s)?,
                    Attr::Int(i) => attrs.set_item(k, i)?,
                    Attr::Bool(b) => attrs.set_item(k, b)?,
                }
            }
            ("open", *id, *parent, span.kind.name(), attrs).into_pyobject(py)?
        }
        Change::Close { id, outcome } => {
            let (what, msg) = match outcome {
                Outcome::Ok => ("ok", None),
                Outcome::Cached => ("cached", None),
                Outcome::Failed(m) => ("failed", Some(m.as_str())),
            };
            ("close", *id, what, msg).into_pyobject(py)?
        }
        Change::Bar { index, bar } => {
            let info = (
                PyTuple::new(py, &bar.path)?,
                bar.node.as_deref(),
                bar.done,
                bar.total,
                bar.cached,
                bar.failed,
                bar.finished,
            );
            ("bar", *index, info).into_pyobject(py)?
        }
        Change::Done => ("done",).into_pyobject(py)?,
    })
}

#[pymethods]
impl PyRunTree {
    #[new]
    #[pyo3(signature = (*, spans=true, bars=true))]
    fn new(spans: bool, bars: bool) -> Self {
        PyRunTree {
            tree: Mutex::new(RunTree::new()),
            spans,
            bars,
        }
    }

    /// Feeds one callback event (`hook` is a `Callback` method name, `args` its arguments without
    /// the context) at `path` with the enclosing map item indices `items`. Returns the changes:
    /// `("open", id, parent, name, attributes)`, `("close", id, "ok" | "cached" | "failed",
    /// message)`, `("bar", index, (path, node, done, total, cached, failed, finished))`, `("done",)`.
    fn feed<'py>(
        &self,
        py: Python<'py>,
        hook: &str,
        args: &Bound<'py, PyTuple>,
        path: Vec<String>,
        items: Vec<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let s = |i: usize| -> PyResult<String> { args.get_item(i)?.extract() };
        let n = |i: usize| -> PyResult<usize> { args.get_item(i)?.extract() };
        let (a, b);
        let step = match hook {
            "on_pipeline_start" => Step::PipelineStart({
                a = s(0)?;
                &a
            }),
            "on_pipeline_end" => Step::PipelineEnd({
                a = s(0)?;
                &a
            }),
            "on_node_start" => Step::NodeStart({
                a = s(0)?;
                &a
            }),
            "on_node_end" => Step::NodeEnd({
                a = s(0)?;
                &a
            }),
            "on_node_cached" => {
                a = s(0)?;
                b = s(1)?;
                Step::NodeCached(&a, &b)
            }
            "on_error" => {
                a = s(0)?;
                Step::Error(&a, message(&args.get_item(1)?)?)
            }
            "on_nested_pipeline_start" => Step::NestedStart({
                a = s(1)?;
                &a
            }),
            "on_nested_pipeline_end" => Step::NestedEnd({
                a = s(1)?;
                &a
            }),
            "on_map_start" => Step::MapStart(n(0)?),
            "on_map_end" => Step::MapEnd,
            "on_map_item_start" => Step::ItemStart(n(0)?),
            "on_map_item_end" => Step::ItemEnd(n(0)?),
            "on_map_item_cached" => Step::ItemCached(n(0)?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "RunTree: no callback hook '{other}'"
                )))
            }
        };
        let changes = {
            let mut tree = self.tree.lock().unwrap_or_else(|e| e.into_inner());
            let at = hypernodes::Where {
                path: &path,
                items: &items,
            };
            tree.apply(&step, at)
        };
        let out = PyList::empty(py);
        for c in &changes {
            let wanted = match c {
                Change::Open { .. } | Change::Close { .. } => self.spans,
                Change::Bar { .. } => self.bars,
                Change::Done => true,
            };
            if wanted {
                out.append(change(py, c)?)?;
            }
        }
        Ok(out)
    }

    /// Whether the root run is over.
    #[getter]
    fn done(&self) -> bool {
        (self.tree.lock().unwrap_or_else(|e| e.into_inner())).is_done()
    }
}
