//! What a framework executor written in Python (such as `hypernodes.daft.DaftExecutor`) needs from the
//! engine to behave like `NodeExecutor`: the run context (cache, callbacks, hierarchy) and the exact
//! cache keys, so a cache filled by one executor is hit by the other.

use std::sync::Arc;

use hypernodes::executor_api::Context;
use hypernodes::for_binding::NodeCache;
use hypernodes::for_binding::{always_runs, keys_node_identity};
use hypernodes::Key;
use hypernodes::{Cache, Executor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::callbacks::deliver_to;
use crate::errors::to_pyerr;
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
            .unwrap_or_else(|| self.ctx.executor().clone());
        let own = pipeline.core.executor().is_some();
        PyRunContext {
            ctx: self.ctx.nested(&pipeline.core, exec, own),
        }
    }

    /// The context of map item `index` at this level.
    fn map_item(&self, index: usize) -> Self {
        PyRunContext {
            ctx: self.ctx.map_item(index),
        }
    }

    /// Where this level is, for a worker to resume there: `(path, enclosing item indices, map depth)`.
    #[getter]
    fn origin(&self) -> (Vec<String>, Vec<usize>, usize) {
        let o = self.ctx.origin();
        (o.path, o.items, o.map_depth)
    }

    /// Replays one item's node records (`{node index: record}`, the records of
    /// `hypernodes._daft.worker`) at this level, with the engine's event order, error notes and
    /// item signature (`hypernodes::replay`); returns the item's outputs (those of the plan for
    /// `output_name`) or raises the first failing node's error. `index`: the map item's index
    /// (None: a run); `inputs`: the item's root inputs by name; `item_keys`: with a cache in
    /// effect, the keys of the item's mapped inputs; `observe`: whether to fire events.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (pipeline, output_name, index, inputs, item_keys, records, observe=true))]
    fn replay_item<'py>(
        &self,
        py: Python<'py>,
        pipeline: &PyPipeline,
        output_name: Option<Vec<String>>,
        index: Option<usize>,
        inputs: &Bound<'py, pyo3::types::PyDict>,
        item_keys: Option<Vec<Vec<u8>>>,
        records: &Bound<'py, pyo3::types::PyDict>,
        observe: bool,
    ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        use hypernodes::executor_api::{replay_item, ItemReplay, NodeRecord};
        let plan = pipeline
            .core
            .plan(output_name.as_deref())
            .map_err(to_pyerr)?;
        let named = inputs
            .iter()
            .map(|(k, v)| Ok((Arc::<str>::from(k.extract::<String>()?), to_value(v))))
            .collect::<PyResult<Vec<_>>>()?;
        let keys = item_keys
            .map(|ks| {
                ks.iter()
                    .map(|k| key_arg(k))
                    .collect::<PyResult<Vec<Key>>>()
            })
            .transpose()?;
        let values = |obj: Bound<'py, PyAny>| -> PyResult<Vec<hypernodes::Value>> {
            obj.try_iter()?.map(|v| Ok(to_value(v?))).collect()
        };
        let secs = |obj: Bound<'py, PyAny>| -> PyResult<std::time::Duration> {
            let s: f64 = obj.extract()?;
            Ok(std::time::Duration::try_from_secs_f64(s).unwrap_or_default())
        };
        let mut recs = Vec::with_capacity(records.len());
        for (k, rec) in records.iter() {
            let n: usize = k.extract()?;
            let kind: String = rec.get_item(0)?.extract()?;
            let r = match kind.as_str() {
                "hit" => NodeRecord::Hit {
                    outputs: values(rec.get_item(1)?)?,
                    signature: rec.get_item(3)?.extract()?,
                },
                "ok" => NodeRecord::Done {
                    outputs: values(rec.get_item(1)?)?,
                    duration: secs(rec.get_item(3)?)?,
                    inner: rec.get_item(4)?.unbind(),
                },
                "err" => {
                    let exc = rec.get_item(1)?;
                    // the engine's own errors (arity) name their place already
                    let noted: bool = rec.get_item(4)?.extract()?;
                    NodeRecord::Failed {
                        error: Box::new(PyErr::from_value(exc)),
                        noted,
                        duration: secs(rec.get_item(3)?)?,
                        inner: rec.get_item(2)?.unbind(),
                    }
                }
                _ => NodeRecord::Skipped,
            };
            recs.push((n, r));
        }
        let ctx = match observe {
            true => self.ctx.clone(),
            false => self.ctx.without_callbacks(),
        };
        let forward = |level: &Context, events: Py<PyAny>| {
            let Some(cbs) = level.callbacks() else {
                return;
            };
            Python::attach(|py| {
                let run = || -> PyResult<()> {
                    let base = level.path_strings();
                    for ev in events.bind(py).try_iter()? {
                        let (hook, args, rel, items): (
                            String,
                            Bound<'_, PyTuple>,
                            Vec<String>,
                            Vec<usize>,
                        ) = ev?.extract()?;
                        let mut path = base.clone();
                        path.extend(rel);
                        deliver_to(py, cbs, level, &path, &items, &hook, &args)?;
                    }
                    Ok(())
                };
                if let Err(e) = run() {
                    e.write_unraisable(py, None);
                }
            })
        };
        let item = ItemReplay {
            pipeline: &pipeline.core,
            plan: &plan,
            index,
            inputs: &named,
            item_keys: keys.as_deref(),
        };
        let out = replay_item(&ctx, &item, recs, &forward).map_err(to_pyerr)?;
        crate::pipeline::outputs_to_dict(py, &out)
    }

    /// The engine's note naming where node `node` failed at this level (its pipeline path from
    /// the root and, in a map, the item indices): the same text in every executor.
    fn node_note(&self, node: &str) -> String {
        hypernodes::node_note(node, &self.ctx.path_strings(), self.ctx.items())
    }

    /// The cache in effect (None: no caching).
    #[getter]
    fn cache(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.ctx.cache() {
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
        self.ctx.map_depth()
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
        let Some(cbs) = self.ctx.callbacks() else {
            return Ok(());
        };
        let path = path.unwrap_or_else(|| self.ctx.path_strings());
        deliver_to(py, cbs, &self.ctx, &path, self.ctx.items(), hook, &args)
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

/// Whether a map's `on_error` argument asks to go on past failing items (the engine's check: any
/// other value than "raise" or "continue" is a `ConfigurationError`).
#[pyfunction]
pub fn continues_on_error(on_error: &str) -> PyResult<bool> {
    let policy: hypernodes::OnError = on_error.parse().map_err(to_pyerr)?;
    Ok(policy == hypernodes::OnError::Continue)
}

/// A place in a run as the engine's notes name it: `pipeline 'a > b', item 3`.
#[pyfunction]
pub fn place_note(path: Vec<String>, items: Vec<usize>) -> String {
    hypernodes::place_note(&path, &items)
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
    let key = hypernodes::for_binding::input_key(name, &PyAnyType, &v);
    Ok(key.map(|k| PyBytes::new(py, &k)))
}

type PyKeys = Option<Vec<Option<Vec<u8>>>>;

fn keys_arg(keys: PyKeys) -> PyResult<Option<Vec<Option<Key>>>> {
    keys.map(|ks| {
        ks.iter()
            .map(|k| k.as_deref().map(key_arg).transpose())
            .collect()
    })
    .transpose()
}

fn keys_to_py<'py>(py: Python<'py>, keys: &[Option<Key>]) -> Bound<'py, PyList> {
    PyList::new(
        py,
        keys.iter()
            .map(|k| k.map(|k| PyBytes::new(py, &k).into_any())),
    )
    .expect("a list of bytes or None")
}

/// One node's step for an executor that calls node functions itself (a framework executor's
/// UDF): the engine's own cache protocol (`hypernodes::for_binding::NodeCache`) and output rules, so
/// keys, hits, stores, warnings and arity errors are exactly NodeExecutor's. `cache`: the cache
/// the node's level uses (None: none); `wanted`: the output positions needed (None: all).
#[pyclass(name = "NodeStep", module = "hypernodes._core", frozen)]
pub struct PyNodeStep {
    node: hypernodes::Node,
    identity: Option<Key>,
    wanted: Option<Vec<usize>>,
    cache: Option<Arc<dyn Cache>>,
    multi: bool,
}

impl PyNodeStep {
    fn protocol<'a>(&'a self, keys: Option<&[Option<Key>]>) -> NodeCache<'a> {
        NodeCache::with_identity(
            &self.node,
            self.identity,
            keys,
            self.wanted.as_deref(),
            self.cache.as_ref(),
        )
    }
}

#[pymethods]
impl PyNodeStep {
    /// `identity`: the node's code identity as `node_identity` gave it where the run started
    /// (None: computed here).
    #[new]
    #[pyo3(signature = (node, wanted=None, cache=None, identity=None))]
    fn new(
        node: &PyNode,
        wanted: Option<Vec<usize>>,
        cache: Option<&Bound<'_, PyAny>>,
        identity: Option<Vec<u8>>,
    ) -> PyResult<Self> {
        let cache = cache
            .filter(|c| !c.is_none())
            .map(crate::cache::cache_arg)
            .transpose()?;
        let multi = match node.core.kind() {
            hypernodes::NodeKind::Func(f) => {
                crate::node::as_py_fn(f.as_ref()).is_some_and(|f| f.multi)
            }
            _ => false,
        };
        Ok(PyNodeStep {
            node: node.core.clone(),
            identity: identity.as_deref().map(key_arg).transpose()?,
            wanted,
            cache,
            multi,
        })
    }

    /// Before the call, with the inputs' keys (None: no cache in effect): `(key, hit)`, where
    /// `key` is the call's key (None: not cached) and `hit`, on a cache hit, is
    /// `(outputs, output keys, signature)`.
    #[allow(clippy::type_complexity)]
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        keys: PyKeys,
    ) -> PyResult<(
        Option<Bound<'py, PyBytes>>,
        Option<(Bound<'py, PyList>, Bound<'py, PyList>, String)>,
    )> {
        let keys = keys_arg(keys)?;
        let protocol = self.protocol(keys.as_deref());
        let key = protocol.key().map(|k| PyBytes::new(py, &k));
        let hit = py.detach(|| protocol.lookup());
        let hit = match hit {
            Some((values, okeys)) => {
                let outs = PyList::new(py, values.iter().map(|v| to_py(py, v)))?;
                let sig = blake3::Hash::from_bytes(protocol.key().expect("a hit has a key"))
                    .to_hex()
                    .to_string();
                Some((outs, keys_to_py(py, &okeys), sig))
            }
            None => None,
        };
        Ok((key, hit))
    }

    /// A function's return value as the node's outputs (a multi-output node's tuple unpacked),
    /// or, when they break the engine's arity check, its `OutputArityError`, returned rather than
    /// raised: the engine's own error names the node already, so no node note is added to it (as
    /// NodeExecutor does), and the caller records it as such.
    fn unpack<'py>(&self, py: Python<'py>, out: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let outs = crate::node::unpack(out, self.multi);
        if let Err(e) = hypernodes::for_binding::check_arity(&self.node, &outs) {
            return Ok(to_pyerr(e).into_value(py).into_bound(py).into_any());
        }
        Ok(PyList::new(py, outs.iter().map(|v| to_py(py, v)))?.into_any())
    }

    /// A dual node's batch call (the engine's `call_batch`): `rows` holds each item's arguments,
    /// `varies` marks the parameters that vary per item (the others are passed once). Returns each
    /// item's outputs. The batch function's own exception is raised as it is; a wrong number of
    /// rows or outputs is the engine's error (`OutputArityError`, naming the node), which is
    /// returned, not raised, so the caller knows it names its node already.
    fn call_batch<'py>(
        &self,
        py: Python<'py>,
        rows: Vec<Vec<Bound<'py, PyAny>>>,
        varies: Vec<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rows: Vec<Vec<hypernodes::Value>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(to_value).collect())
            .collect();
        let out = py.detach(|| hypernodes::executor_api::call_batch(&self.node, rows, &varies));
        match out {
            Ok(rows) => Ok(PyList::new(
                py,
                rows.iter()
                    .map(|r| PyList::new(py, r.iter().map(|v| to_py(py, v))))
                    .collect::<PyResult<Vec<_>>>()?,
            )?
            .into_any()),
            Err(failure) => batch_failure_to_py(py, failure),
        }
    }

    /// A dual node's batch call on columns (the engine's `call_columns`): `columns` holds, per
    /// parameter, the batch's values (a list) where `varies` is set, else the one shared value.
    /// Returns one list of values per output. Errors as `call_batch` (the engine's returned).
    fn call_columns<'py>(
        &self,
        py: Python<'py>,
        columns: Vec<Bound<'py, PyAny>>,
        varies: Vec<bool>,
        len: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = columns
            .into_iter()
            .zip(&varies)
            .map(|(c, &v)| match v {
                true => hypernodes::ColumnArg::Column(to_value(c)),
                false => hypernodes::ColumnArg::Shared(to_value(c)),
            })
            .collect();
        let out = py.detach(|| hypernodes::executor_api::call_columns(&self.node, args, len));
        match out {
            Ok(cols) => Ok(PyList::new(py, cols.iter().map(|c| to_py(py, c)))?.into_any()),
            Err(failure) => batch_failure_to_py(py, failure),
        }
    }

    /// Whether the node is a dual node (a map batches it: see `call_batch`).
    #[getter]
    fn is_dual(&self) -> bool {
        self.node.batch_fn().is_some()
    }

    /// A dual node's most items per batch call (1 for other nodes).
    #[getter]
    fn batch_size(&self) -> usize {
        self.node.batch_fn().map_or(1, |b| b.batch_size())
    }

    /// After the call: stores the outputs (a value that cannot be stored is reported once per
    /// node) and returns `(output keys or None, stored)`.
    fn store<'py>(
        &self,
        py: Python<'py>,
        keys: PyKeys,
        outs: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<(Option<Bound<'py, PyList>>, bool)> {
        let keys = keys_arg(keys)?;
        let protocol = self.protocol(keys.as_deref());
        let values: Vec<hypernodes::Value> = outs.into_iter().map(to_value).collect();
        let (okeys, stored) = py.detach(|| protocol.store(&values));
        Ok((okeys.map(|k| keys_to_py(py, &k)), stored))
    }
}

/// A failed batch call: the batch function's own exception is raised as it is; the engine's error
/// (it names the node already) is returned as the exception object, for the caller to tell apart.
fn batch_failure_to_py<'py>(
    py: Python<'py>,
    failure: hypernodes::executor_api::BatchFailure,
) -> PyResult<Bound<'py, PyAny>> {
    match failure {
        hypernodes::executor_api::BatchFailure::Raised(source) => {
            Err(match source.downcast::<PyErr>() {
                Ok(e) => *e,
                Err(other) => pyo3::exceptions::PyRuntimeError::new_err(other.to_string()),
            })
        }
        hypernodes::executor_api::BatchFailure::Invalid(e) => {
            Ok(to_pyerr(e).into_value(py).into_bound(py).into_any())
        }
    }
}
