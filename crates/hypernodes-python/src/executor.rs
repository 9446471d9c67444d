//! Executors seen from Python: `NodeExecutor` (the engine's own) and any Python object with `run` and
//! `map` methods (a framework executor such as `hypernodes.daft.DaftExecutor`).

use std::sync::Arc;

use hypernodes::context::Context;
use hypernodes::{Executor, Inputs, MapMode, Mode, NodeExecutor, OnError, Outputs, Pipeline};
use pyo3::prelude::*;

use crate::convert::Wrap;
use pyo3::types::PyDict;

use crate::errors::to_pyerr;
use crate::pipeline::PyPipeline;
use crate::values::{to_py, to_value};

/// Runs pipelines node by node. `node_execution` governs the nodes of one run, `map_execution` the
/// items of one map: "sequential", "threaded", "async" or "parallel". `max_workers` defaults to the
/// number of CPUs.
#[pyclass(name = "NodeExecutor", module = "hypernodes", frozen)]
pub struct PyNodeExecutor {
    pub core: NodeExecutor,
}

#[pymethods]
impl PyNodeExecutor {
    #[new]
    #[pyo3(signature = (node_execution=Wrap(Mode::Sequential), map_execution=Wrap(Mode::Sequential), max_workers=None, **renamed))]
    #[pyo3(
        text_signature = "(node_execution='sequential', map_execution='sequential', max_workers=None, **renamed)"
    )]
    fn new(
        node_execution: Wrap<Mode>,
        map_execution: Wrap<Mode>,
        max_workers: Option<i64>,
        renamed: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        crate::pipeline::reject_kwargs("NodeExecutor", renamed)?;
        let (node, map) = (node_execution.0, map_execution.0);
        let workers = match max_workers {
            Some(n) if n < 1 => {
                return Err(crate::errors::config_error(format!(
                    "max_workers must be at least 1, got {n}"
                )))
            }
            Some(n) => Some(n as usize),
            None => None,
        };
        let mut core = NodeExecutor::new(node, map, workers).map_err(to_pyerr)?;
        if node == Mode::Parallel || map == Mode::Parallel {
            let pool_size = core.max_workers();
            core = core.with_offload(Arc::new(ProcessOffload {
                node_execution: node,
                pool_size,
            }));
        }
        Ok(PyNodeExecutor { core })
    }

    /// Pickles the executor as its settings.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, pyo3::types::PyTuple>)> {
        let cls = py.get_type::<PyNodeExecutor>().into_any();
        let args = (
            self.node_execution(),
            self.map_execution(),
            self.core.max_workers_setting(),
        )
            .into_pyobject(py)?;
        Ok((cls, args))
    }

    /// How the nodes of one run execute.
    #[getter]
    fn node_execution(&self) -> &'static str {
        self.core.node_execution().as_str()
    }

    /// How the items of one map execute.
    #[getter]
    fn map_execution(&self) -> &'static str {
        self.core.map_execution().as_str()
    }

    /// The worker bound as given (None: the number of CPUs).
    #[getter]
    fn max_workers_setting(&self) -> Option<usize> {
        self.core.max_workers_setting()
    }

    /// The worker bound in effect.
    #[getter]
    fn max_workers(&self) -> usize {
        self.core.max_workers()
    }

    /// Runs `pipeline` once; returns every output (or those named by `output_name`). A name that is
    /// neither an input nor an output raises `UnknownInputError`.
    #[pyo3(signature = (pipeline, inputs, output_name=None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        pipeline: &PyPipeline,
        inputs: &Bound<'py, PyDict>,
        output_name: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let selected = crate::pipeline::names_arg(output_name)?;
        let inputs = crate::pipeline::inputs_arg(inputs)?;
        let out = self
            .core
            .run(&pipeline.core, inputs, selected.as_deref())
            .map_err(crate::pipeline::run_error)?;
        crate::pipeline::outputs_to_dict(py, &out)
    }

    /// Maps `pipeline` over the inputs named in `map_over`; returns one dict per item, in order.
    /// `on_error="continue"`: every item runs, and a failed item's place holds its exception.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (pipeline, inputs, map_over, map_mode=Wrap(MapMode::Zip), output_name=None, on_error=Wrap(OnError::Raise)))]
    #[pyo3(
        text_signature = "(self, pipeline, inputs, map_over, map_mode='zip', output_name=None, on_error='raise')"
    )]
    fn map<'py>(
        &self,
        py: Python<'py>,
        pipeline: &PyPipeline,
        inputs: &Bound<'py, PyDict>,
        map_over: &Bound<'py, PyAny>,
        map_mode: Wrap<MapMode>,
        output_name: Option<&Bound<'py, PyAny>>,
        on_error: Wrap<OnError>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        let (mode, on_error) = (map_mode.0, on_error.0);
        let selected = crate::pipeline::names_arg(output_name)?;
        let map_over = crate::pipeline::names_arg(Some(map_over))?.unwrap_or_default();
        let inputs = crate::pipeline::inputs_arg(inputs)?;
        if on_error == OnError::Continue {
            let out = self
                .core
                .map_each(&pipeline.core, inputs, &map_over, mode, selected.as_deref())
                .map_err(to_pyerr)?;
            return crate::pipeline::each_to_list(py, out);
        }
        let out = self
            .core
            .map(&pipeline.core, inputs, &map_over, mode, selected.as_deref())
            .map_err(crate::pipeline::run_error)?;
        crate::pipeline::results_to_list(py, &out)
    }

    /// In a worker process: runs items of a map that a caller started at `origin` (`(path,
    /// enclosing item indices, map depth)`); item `i` of `items` is item `first + i` of the map.
    /// Events and error notes are those of the caller's own run (see `hypernodes._parallel`).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (pipeline, inputs, map_over, items, first, output_name, origin, on_error=Wrap(OnError::Raise)))]
    #[pyo3(
        text_signature = "(self, pipeline, inputs, map_over, items, first, output_name, origin, on_error='raise')"
    )]
    fn _resume_items<'py>(
        &self,
        py: Python<'py>,
        pipeline: &PyPipeline,
        inputs: &Bound<'py, PyDict>,
        map_over: Vec<String>,
        items: Vec<Vec<Bound<'py, PyAny>>>,
        first: usize,
        output_name: Option<Vec<String>>,
        origin: (Vec<String>, Vec<usize>, usize),
        on_error: Wrap<OnError>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        let on_error = on_error.0;
        let inputs = crate::pipeline::inputs_arg(inputs)?;
        let items: Vec<Vec<hypernodes::Value>> = items
            .into_iter()
            .map(|item| item.into_iter().map(to_value).collect())
            .collect();
        let origin = hypernodes::Origin {
            path: origin.0,
            items: origin.1,
            map_depth: origin.2,
        };
        let out = self
            .core
            .resume_items(
                &pipeline.core,
                &inputs,
                &map_over,
                &items,
                first,
                output_name.as_deref(),
                &origin,
                on_error,
            )
            .map_err(to_pyerr)?;
        crate::pipeline::each_to_list(py, out)
    }

    fn __repr__(&self) -> String {
        format!(
            "NodeExecutor(node_execution={:?}, map_execution={:?}, max_workers={})",
            self.node_execution(),
            self.map_execution(),
            self.max_workers()
        )
    }
}

/// A Python object with `run(pipeline, inputs, output_name=None)` and
/// `map(pipeline, inputs, map_over, map_mode="zip", output_name=None)`, used as an executor.
pub struct PyExecutor {
    pub obj: Py<PyAny>,
}

impl PyExecutor {
    fn call(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map: Option<(&[String], MapMode, OnError)>,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> hypernodes::Result<Vec<hypernodes::Result<Outputs>>> {
        Python::attach(|py| -> PyResult<Vec<hypernodes::Result<Outputs>>> {
            let p = PyPipeline::to_py(py, pipeline)?;
            let d = crate::pipeline::inputs_to_dict(py, &inputs)?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("output_name", output_name.map(|o| o.to_vec()))?;
            let run_ctx = crate::framework::PyRunContext { ctx: ctx.clone() };
            kwargs.set_item("_ctx", Py::new(py, run_ctx)?)?;
            let obj = self.obj.bind(py);
            match map {
                None => {
                    let r = obj.call_method("run", (p, d), Some(&kwargs))?;
                    Ok(vec![Ok(dict_to_outputs(&r)?)])
                }
                Some((over, mode, on_error)) => {
                    kwargs.set_item("map_mode", mode.as_str())?;
                    if on_error == OnError::Continue {
                        kwargs.set_item("on_error", on_error.as_str())?;
                    }
                    let r = obj.call_method("map", (p, d, over.to_vec()), Some(&kwargs))?;
                    r.try_iter()?.map(|item| item_result(item?)).collect()
                }
            }
        })
        // A framework executor reports node errors itself (original type, note naming the node).
        .map_err(crate::errors::from_pyerr)
    }
}

/// One item of a map's results: its dict, or (a map that went on past failures) its exception.
fn item_result(item: Bound<'_, PyAny>) -> PyResult<hypernodes::Result<Outputs>> {
    if item.is_instance_of::<pyo3::exceptions::PyBaseException>() {
        return Ok(Err(hypernodes::Error::Foreign(Box::new(
            PyErr::from_value(item),
        ))));
    }
    dict_to_outputs(&item).map(Ok)
}

fn dict_to_outputs(obj: &Bound<'_, PyAny>) -> PyResult<Outputs> {
    let d = obj.cast::<PyDict>()?;
    let mut entries = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let k: String = k.extract()?;
        entries.push((Arc::<str>::from(k), to_value(v)));
    }
    Ok(Outputs::from_pairs(entries))
}

impl Executor for PyExecutor {
    fn shared(&self) -> Arc<dyn Executor> {
        Python::attach(|py| {
            Arc::new(PyExecutor {
                obj: self.obj.clone_ref(py),
            }) as Arc<dyn Executor>
        })
    }

    fn run_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> hypernodes::Result<Outputs> {
        self.call(pipeline, inputs, None, output_name, ctx)?
            .remove(0)
    }

    fn map_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> hypernodes::Result<Vec<Outputs>> {
        self.call(
            pipeline,
            inputs,
            Some((map_over, map_mode, OnError::Raise)),
            output_name,
            ctx,
        )?
        .into_iter()
        .collect()
    }

    fn map_each_in(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        map_over: &[String],
        map_mode: MapMode,
        output_name: Option<&[String]>,
        ctx: &Context,
    ) -> hypernodes::Result<Vec<hypernodes::Result<Outputs>>> {
        self.call(
            pipeline,
            inputs,
            Some((map_over, map_mode, OnError::Continue)),
            output_name,
            ctx,
        )
    }
}

/// The engine executor for a Python executor argument (`None`: inherit).
pub fn executor_arg(obj: Option<&Bound<'_, PyAny>>) -> Option<Arc<dyn Executor>> {
    let obj = obj.filter(|o| !o.is_none())?;
    if let Ok(ne) = obj.cast::<PyNodeExecutor>() {
        return Some(Arc::new(ne.get().core.clone()));
    }
    Some(Arc::new(PyExecutor {
        obj: obj.clone().unbind(),
    }))
}

/// The Python object for an engine executor.
pub fn executor_to_py(py: Python<'_>, exec: &Arc<dyn Executor>) -> PyResult<Py<PyAny>> {
    let any: &dyn std::any::Any = exec.as_ref();
    if let Some(ne) = any.downcast_ref::<NodeExecutor>() {
        return Ok(Py::new(py, PyNodeExecutor { core: ne.clone() })?.into_any());
    }
    if let Some(pe) = any.downcast_ref::<PyExecutor>() {
        return Ok(pe.obj.clone_ref(py));
    }
    Ok(py.None())
}

/// The "parallel" mode in Python: worker processes (see `hypernodes._parallel`).
struct ProcessOffload {
    node_execution: Mode,
    /// Worker processes in the pool (the executor's `max_workers`), reused across calls.
    pool_size: usize,
}

fn foreign(e: PyErr) -> hypernodes::Error {
    hypernodes::Error::Foreign(Box::new(e))
}

impl hypernodes::Offload for ProcessOffload {
    fn map(
        &self,
        work: &hypernodes::OffloadMap<'_>,
        workers: usize,
        ctx: &Context,
    ) -> hypernodes::Result<Vec<hypernodes::Result<Outputs>>> {
        // The items run in processes with the engine's nodes sequential or as set; nested offloads
        // would start pools from workers, so nodes stay in the worker when nodes are "parallel" too.
        let node_mode = match self.node_execution {
            Mode::Parallel => Mode::Sequential,
            m => m,
        };
        Python::attach(|py| -> PyResult<Vec<hypernodes::Result<Outputs>>> {
            let d = crate::pipeline::inputs_to_dict(py, work.inputs)?;
            let p = PyPipeline::to_py(py, work.pipeline)?;
            let items = pyo3::types::PyList::empty(py);
            for item in work.items {
                let values: Vec<Bound<'_, PyAny>> = item.iter().map(|v| to_py(py, v)).collect();
                items.append(pyo3::types::PyTuple::new(py, values)?)?;
            }
            let cache = match &ctx.cache {
                Some(c) => crate::cache::cache_to_py(py, c)?,
                None => py.None(),
            };
            let origin = ctx.origin();
            let args = (
                p,
                d,
                work.map_over.to_vec(),
                items,
                work.output_name.map(|o| o.to_vec()),
                (workers, self.pool_size),
                node_mode.as_str(),
                cache,
                ctx.observed(),
                (origin.path, origin.items, origin.map_depth),
                work.on_error.as_str(),
            );
            let out = crate::py_modules::parallel(py)?
                .getattr("map_items")?
                .call1(args)?;
            let (results, events, error): (
                Bound<'_, PyAny>,
                Bound<'_, pyo3::types::PyList>,
                Bound<'_, PyAny>,
            ) = out.extract()?;
            crate::callbacks::replay(py, ctx, work.pipeline, &events)?;
            if !error.is_none() {
                return Err(PyErr::from_value(error));
            }
            results.try_iter()?.map(|item| item_result(item?)).collect()
        })
        .map_err(crate::errors::from_pyerr)
    }

    fn call_node(
        &self,
        node: &hypernodes::Node,
        args: Vec<hypernodes::Value>,
        workers: usize,
        ctx: &Context,
    ) -> hypernodes::Result<Vec<hypernodes::Value>> {
        Python::attach(|py| -> PyResult<Vec<hypernodes::Value>> {
            let multi = match node.kind() {
                hypernodes::NodeKind::Func(f) => {
                    crate::node::as_py_fn(f.as_ref()).is_some_and(|f| f.multi)
                }
                _ => false,
            };
            let n = Py::new(py, crate::node::PyNode { core: node.clone() })?;
            let args: Vec<Bound<'_, PyAny>> = args.iter().map(|v| to_py(py, v)).collect();
            let out = crate::py_modules::parallel(py)?
                .getattr("call_node")?
                .call1((n, args, workers))?;
            Ok(crate::node::unpack(out, multi))
        })
        .map_err(|e| hypernodes::Error::Node {
            node: node.name().to_string(),
            path: ctx.path_strings(),
            items: ctx.items.to_vec(),
            source: Box::new(e),
        })
    }

    fn check(&self, pipeline: &Pipeline) -> hypernodes::Result<()> {
        Python::attach(|py| -> PyResult<Option<String>> {
            let p = PyPipeline::to_py(py, pipeline)?;
            crate::py_modules::parallel(py)?
                .getattr("check_picklable")?
                .call1((p,))?
                .extract()
        })
        .map_err(foreign)?
        .map_or(Ok(()), |reason| Err(hypernodes::Error::Config(reason)))
    }
}
