//! `NodeExecutor` seen from Python (the engine's own executor). Python objects used as executors
//! are in `py_executor`, the worker processes of the "parallel" mode in `offload`.

use std::sync::Arc;

use hypernodes::executor_api::Context;
use hypernodes::{Executor, MapMode, Mode, NodeExecutor, OnError};
use pyo3::prelude::*;

use crate::convert::{names, Names, Wrap};
use pyo3::types::PyDict;

use crate::errors::to_pyerr;
use crate::pipeline::PyPipeline;
use crate::values::to_value;

use crate::offload::ProcessOffload;
pub use crate::py_executor::{executor_arg, executor_to_py};

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
        output_name: Option<Names>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let selected = names(output_name);
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
        map_over: Names,
        map_mode: Wrap<MapMode>,
        output_name: Option<Names>,
        on_error: Wrap<OnError>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        let (mode, on_error) = (map_mode.0, on_error.0);
        let selected = names(output_name);
        let map_over = map_over.0;
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
    /// With `record` (a list), every event of the run is appended to it as `(hook, args, path,
    /// items)` instead of being delivered, for the caller to replay.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (pipeline, inputs, map_over, items, first, output_name, origin, on_error=Wrap(OnError::Raise), record=None))]
    #[pyo3(
        text_signature = "(self, pipeline, inputs, map_over, items, first, output_name, origin, on_error='raise', record=None)"
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
        record: Option<Py<pyo3::types::PyList>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        let on_error = on_error.0;
        let inputs = crate::pipeline::inputs_arg(inputs)?;
        let items: Vec<Vec<hypernodes::Value>> = items
            .into_iter()
            .map(|item| item.into_iter().map(to_value).collect())
            .collect();
        let origin = hypernodes::executor_api::Origin {
            path: origin.0,
            items: origin.1,
            map_depth: origin.2,
        };
        let ctx = Context::resumed(&pipeline.core, self.core.shared(), &origin);
        if let Some(list) = record {
            crate::callbacks::record_into(&ctx, list);
        }
        let out = self
            .core
            .resume_items_in(
                &ctx,
                &pipeline.core,
                &inputs,
                &map_over,
                &items,
                first,
                output_name.as_deref(),
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
