//! What a framework executor written in Python (such as `hypernodes.daft.DaftExecutor`) needs from the
//! engine to behave like `NodeExecutor`: the run context (cache, callbacks, hierarchy) and the exact
//! cache keys, so a cache filled by one executor is hit by the other.

use std::sync::Arc;

use hypernodes::cache::{always_runs, keys_node_identity, node_key, output_key, Key};
use hypernodes::context::Context;
use hypernodes::{Cache, Executor, Setting};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::callbacks::PyCallbacks;
use crate::node::PyNode;
use crate::pipeline::PyPipeline;
use crate::values::{to_py, to_value, PyAnyType};

/// The context of one pipeline level of a run: the cache and callbacks in effect and where the
/// level sits in the hierarchy. Passed to framework executors as the private `_ctx` argument.
#[pyclass(name = "RunContext", module = "hypernodes._core", frozen)]
pub struct PyRunContext {
    pub ctx: Context,
}

fn key_arg(b: &[u8]) -> PyResult<Key> {
    b.try_into()
        .map_err(|_| PyValueError::new_err("a cache key is 32 bytes"))
}

#[pymethods]
impl PyRunContext {
    /// The context of a root run of `pipeline` by `executor` (a Python executor object).
    #[staticmethod]
    fn root(pipeline: &PyPipeline, executor: Bound<'_, PyAny>) -> Self {
        let exec: Arc<dyn Executor> = crate::executor::executor_arg(Some(&executor))
            .unwrap_or_else(|| Arc::new(hypernodes::NodeExecutor::default()));
        PyRunContext {
            ctx: Context::root(&pipeline.core, exec),
        }
    }

    /// The context of `pipeline` nested in this level (its own cache/callbacks settings applied).
    fn nested(&self, pipeline: &PyPipeline) -> Self {
        let exec = pipeline
            .core
            .executor()
            .cloned()
            .unwrap_or_else(|| self.ctx.executor.clone());
        let own = pipeline.core.executor().is_some();
        PyRunContext {
            ctx: self.ctx.nested(&pipeline.core, exec, own),
        }
    }

    /// The context of one map item at this level.
    fn map_item(&self) -> Self {
        PyRunContext {
            ctx: self.ctx.map_item(),
        }
    }

    /// The cache in effect (None: no caching).
    #[getter]
    fn cache(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.ctx.cache {
            Some(c) => crate::cache::cache_to_py(py, c),
            None => Ok(py.None()),
        }
    }

    /// Whether any callback listens.
    #[getter]
    fn observed(&self) -> bool {
        self.ctx.observed()
    }

    /// Pipeline names from the root to this level.
    #[getter]
    fn path(&self) -> Vec<String> {
        self.ctx.path_strings()
    }

    /// Nesting depth (0 at the root).
    #[getter]
    fn depth(&self) -> usize {
        self.ctx.depth()
    }

    /// How many maps enclose this level.
    #[getter]
    fn map_depth(&self) -> usize {
        self.ctx.map_depth
    }

    /// Delivers one event (`hook` is a Callback method name, `args` its arguments without ctx) to
    /// the callbacks in effect, at this level's path (or `path` when given).
    #[pyo3(signature = (hook, args, path=None))]
    fn emit(
        &self,
        py: Python<'_>,
        hook: &str,
        args: Bound<'_, PyTuple>,
        path: Option<Vec<String>>,
    ) -> PyResult<()> {
        let Some(cbs) = &self.ctx.callbacks else {
            return Ok(());
        };
        let path = path.unwrap_or_else(|| self.ctx.path_strings());
        for cb in cbs.list() {
            let any: &dyn std::any::Any = cb.as_ref();
            if let Some(p) = any.downcast_ref::<PyCallbacks>() {
                p.dispatch(py, &self.ctx, path.clone(), hook, args.clone())?;
            }
        }
        Ok(())
    }
}

/// The code identity of a node as the engine keys it (None when it cannot be keyed, or when it is
/// a pipeline node that must run every time because it holds a `cache=False` node at some depth).
#[pyfunction]
pub fn node_identity<'py>(py: Python<'py>, node: &PyNode) -> Option<Bound<'py, PyBytes>> {
    let core = &node.core;
    if matches!(core.kind(), hypernodes::NodeKind::Pipeline(_)) && always_runs(core) {
        return None;
    }
    keys_node_identity(core).map(|k| PyBytes::new(py, &k))
}

/// The key of a value (its canonical hash), as the engine computes it. With `name` (a root input),
/// a value that cannot be hashed gives None and the engine's one warning naming the input and its
/// type; without, a TypeError.
#[pyfunction]
#[pyo3(signature = (value, name=None))]
pub fn value_key<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
    name: Option<&str>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let Some(name) = name else {
        return Ok(Some(PyBytes::new(py, &crate::hashing::hash_obj(value)?)));
    };
    let v = to_value(value.clone());
    let key = hypernodes::cache::input_key(name, &PyAnyType, &v);
    Ok(key.map(|k| PyBytes::new(py, &k)))
}

/// The key of one node call: its identity, its inputs' keys (in parameter order) and the output
/// positions requested (None: all).
#[pyfunction]
#[pyo3(signature = (identity, input_keys, wanted=None))]
pub fn call_key<'py>(
    py: Python<'py>,
    identity: &[u8],
    input_keys: Vec<Vec<u8>>,
    wanted: Option<Vec<usize>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let ident = key_arg(identity)?;
    let inputs = input_keys
        .iter()
        .map(|k| key_arg(k))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyBytes::new(
        py,
        &node_key(&ident, &inputs, wanted.as_deref()),
    ))
}

/// The signature `on_map_item_cached` reports for an item: a digest of its mapped inputs' keys, in
/// `map_over` order (as `NodeExecutor` computes it).
#[pyfunction]
pub fn item_signature(item_keys: Vec<Vec<u8>>) -> PyResult<String> {
    let mut h = hypernodes::cache::KeyHasher::new();
    for k in &item_keys {
        h.field("item", &key_arg(k)?);
    }
    Ok(blake3::Hash::from_bytes(h.finish()).to_hex().to_string())
}

/// The key of output `pos` of a node call with key `call`.
#[pyfunction]
pub fn out_key<'py>(py: Python<'py>, call: &[u8], pos: usize) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &output_key(&key_arg(call)?, pos)))
}

fn engine_cache(cache: &Bound<'_, PyAny>) -> PyResult<Arc<dyn Cache>> {
    crate::cache::cache_arg(cache)
}

/// The `n` outputs stored under `key` in `cache`, or None on a miss.
#[pyfunction]
pub fn cache_get<'py>(
    py: Python<'py>,
    cache: &Bound<'py, PyAny>,
    key: &[u8],
    n: usize,
) -> PyResult<Option<Bound<'py, PyList>>> {
    let c = engine_cache(cache)?;
    let key = key_arg(key)?;
    let types = vec![PyAnyType::arc(); n];
    let got = py.detach(|| c.get(&key, &types));
    got.map(|vals| PyList::new(py, vals.iter().map(|v| to_py(py, v))))
        .transpose()
}

/// Stores `values` under `key` in `cache`; returns why they could not be stored, or None.
#[pyfunction]
pub fn cache_put(
    cache: &Bound<'_, PyAny>,
    key: &[u8],
    values: Vec<Bound<'_, PyAny>>,
) -> PyResult<Option<String>> {
    let c = engine_cache(cache)?;
    let key = key_arg(key)?;
    let types = vec![PyAnyType::arc(); values.len()];
    let vals: Vec<_> = values.into_iter().map(to_value).collect();
    Ok(c.put(&key, &vals, &types).err())
}

/// Whether a pipeline's cache setting is off (`cache=False`), for executors resolving inheritance.
#[pyfunction]
pub fn cache_is_off(pipeline: &PyPipeline) -> bool {
    matches!(pipeline.core.cache_setting(), Setting::Off)
}
