//! Any Python object with `run` and `map` methods (a framework executor such as
//! `hypernodes.daft.DaftExecutor`) as an engine executor, and executors to and from Python.

use std::sync::Arc;

use hypernodes::executor_api::Context;
use hypernodes::{Executor, Inputs, MapMode, NodeExecutor, OnError, Outputs, Pipeline};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::executor::PyNodeExecutor;
use crate::pipeline::PyPipeline;
use crate::values::to_value;

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
pub(crate) fn item_result(item: Bound<'_, PyAny>) -> PyResult<hypernodes::Result<Outputs>> {
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
