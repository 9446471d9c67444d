//! The "parallel" mode in Python: the engine hands parallel maps and nodes to worker processes
//! (`hypernodes._parallel`).

use hypernodes::executor_api::Context;
use hypernodes::{Mode, Outputs, Pipeline};
use pyo3::prelude::*;

use crate::pipeline::PyPipeline;
use crate::py_executor::item_result;
use crate::values::to_py;

/// The "parallel" mode in Python: worker processes (see `hypernodes._parallel`).
pub(crate) struct ProcessOffload {
    pub(crate) node_execution: Mode,
    /// Worker processes in the pool (the executor's `max_workers`), reused across calls.
    pub(crate) pool_size: usize,
}

fn foreign(e: PyErr) -> hypernodes::Error {
    hypernodes::Error::Foreign(Box::new(e))
}

impl hypernodes::executor_api::Offload for ProcessOffload {
    fn map(
        &self,
        work: &hypernodes::executor_api::OffloadMap<'_>,
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
            let cache = match ctx.cache() {
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
            let n = Py::new(py, crate::node::PyNode::from(node.clone()))?;
            let args: Vec<Bound<'_, PyAny>> = args.iter().map(|v| to_py(py, v)).collect();
            let out = crate::py_modules::parallel(py)?
                .getattr("call_node")?
                .call1((n, args, workers))?;
            Ok(crate::node::unpack(out, multi))
        })
        .map_err(|e| hypernodes::Error::Node {
            node: node.name().to_string(),
            path: ctx.path_strings(),
            items: ctx.items().to_vec(),
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
