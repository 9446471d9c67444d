//! Python callables as engine nodes, and the `Node` class users get from `@node`.

use std::sync::Arc;

use hypernodes::{BoxError, Node, NodeFn, NodeKind, Port, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::errors::{config_error, to_pyerr};
use crate::values::{to_py, to_value, PyAnyType};

/// A Python function called with one positional argument per parameter.
pub struct PyNodeFn {
    /// The user's function.
    pub func: Py<PyAny>,
    /// Whether it is an `async def` function (its coroutine is awaited).
    pub is_async: bool,
    /// Whether the node declares several outputs (the returned tuple is unpacked).
    pub multi: bool,
    /// The function's code identity, computed on first use (see `crate::code`).
    pub identity: std::sync::OnceLock<Vec<u8>>,
    /// A dual node's batch implementation (`None`: an ordinary node).
    pub batch: Option<PyBatchFn>,
}

/// The batch function of a dual node (`DualNode`): called by a map on batches of items.
pub struct PyBatchFn {
    /// The user's batch function.
    pub func: Py<PyAny>,
    /// The most items per call.
    pub size: usize,
    /// Whether mapped parameters arrive as plain lists (else as a `pyarrow.Array` when they
    /// convert, see `hypernodes.dual`).
    pub lists: bool,
    /// The node's number of outputs (with several, the function returns one sequence each).
    pub outputs: usize,
}

impl hypernodes::BatchFn for PyBatchFn {
    fn call_batch(
        &self,
        args: Vec<hypernodes::BatchArg>,
        len: usize,
    ) -> Result<Vec<Vec<Value>>, BoxError> {
        Python::attach(|py| -> PyResult<Vec<Vec<Value>>> {
            let spec = PyList::empty(py);
            for a in &args {
                let item = match a {
                    hypernodes::BatchArg::Items(vs) => (
                        true,
                        PyList::new(py, vs.iter().map(|v| to_py(py, v)))?.into_any(),
                    ),
                    hypernodes::BatchArg::Shared(v) => (false, to_py(py, v)),
                };
                spec.append(item)?;
            }
            let rows = crate::py_modules::dual(py)?.getattr("call_batch")?.call1((
                self.func.bind(py),
                spec,
                len,
                self.lists,
                self.outputs,
            ))?;
            rows.cast::<PyList>()?
                .iter()
                .map(|r| match self.outputs {
                    1 => Ok(vec![to_value(r)]),
                    _ => Ok(r.cast::<PyList>()?.iter().map(to_value).collect()),
                })
                .collect()
        })
        .map_err(|e: PyErr| Box::new(e) as BoxError)
    }

    fn batch_size(&self) -> usize {
        self.size
    }

    fn columnar(&self) -> bool {
        true
    }

    fn call_columns(
        &self,
        args: Vec<hypernodes::ColumnArg>,
        len: usize,
    ) -> Result<Vec<Value>, BoxError> {
        Python::attach(|py| -> PyResult<Vec<Value>> {
            let spec = PyList::empty(py);
            for a in &args {
                let item = match a {
                    hypernodes::ColumnArg::Column(list) => (true, to_py(py, list)),
                    hypernodes::ColumnArg::Shared(v) => (false, to_py(py, v)),
                };
                spec.append(item)?;
            }
            let cols = crate::py_modules::dual(py)?
                .getattr("call_columns")?
                .call1((self.func.bind(py), spec, len, self.lists, self.outputs))?;
            Ok(cols.cast::<PyList>()?.iter().map(to_value).collect())
        })
        .map_err(|e: PyErr| Box::new(e) as BoxError)
    }
}

impl PyNodeFn {
    fn call_py<'py>(&self, py: Python<'py>, args: &[Value]) -> PyResult<Bound<'py, PyAny>> {
        let args = PyTuple::new(py, args.iter().map(|v| to_py(py, v)))?;
        let mut out = self.func.bind(py).call1(args)?;
        if self.is_async {
            out = crate::py_modules::aio(py)?
                .getattr("run_coroutine")?
                .call1((out,))?;
        }
        Ok(out)
    }
}

/// A function's return value as node outputs: a multi-output node's tuple (or list) is unpacked.
pub fn unpack(out: Bound<'_, PyAny>, multi: bool) -> Vec<Value> {
    if multi {
        if let Ok(t) = out.cast::<PyTuple>() {
            return t.iter().map(to_value).collect();
        }
        if let Ok(l) = out.cast::<PyList>() {
            return l.iter().map(to_value).collect();
        }
    }
    vec![to_value(out)]
}

impl NodeFn for PyNodeFn {
    fn call(&self, args: Vec<Value>) -> Result<Vec<Value>, BoxError> {
        Python::attach(|py| {
            self.call_py(py, &args)
                .map(|out| unpack(out, self.multi))
                .map_err(|e: PyErr| {
                    // Ctrl-C inside a node stops the run (it is never one item's failure)
                    if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                        Box::new(hypernodes::Error::Interrupted) as BoxError
                    } else {
                        Box::new(e) as BoxError
                    }
                })
        })
    }

    fn batch(&self) -> Option<&dyn hypernodes::BatchFn> {
        self.batch.as_ref().map(|b| b as &dyn hypernodes::BatchFn)
    }

    fn code_identity(&self) -> Vec<u8> {
        // Not `get_or_init`: the computation runs Python, which may let another thread take the
        // interpreter lock and then wait for this cell (see `hypernodes::memo`).
        hypernodes::for_binding::memoize(&self.identity, || {
            Python::attach(|py| {
                let f = self.func.bind(py);
                crate::code::code_identity(f)
                    .and_then(|mut id| {
                        if let Some(b) = &self.batch {
                            // a dual node's results come from either function: both count
                            id.push(b'+');
                            id.extend(crate::code::code_identity(b.func.bind(py))?);
                        }
                        Ok(id)
                    })
                    .unwrap_or_else(|e| {
                        // Never by name alone (a wrong hit once the code changes): an identity of
                        // this process only, so its entries are never reused by another process.
                        let name = qualified_name(f);
                        hypernodes::for_binding::warn(&format!(
                            "cannot read the code of {name}: {e}; its results are not reused by \
                             other processes"
                        ));
                        let nonce = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_nanos())
                            .unwrap_or_default();
                        format!("{name}\0{}\0{nonce}", std::process::id()).into_bytes()
                    })
            })
        })
    }
}

/// A step of a pipeline: a function (from `@node`) or a nested pipeline (from `Pipeline.as_node`).
#[pyclass(name = "Node", module = "hypernodes", frozen)]
pub struct PyNode {
    pub core: Node,
    /// A pipeline node's inner pipeline as one Python object (`node.pipeline` is the same object
    /// at every access), made on first access.
    inner: std::sync::OnceLock<Py<crate::pipeline::PyPipeline>>,
}

impl From<Node> for PyNode {
    fn from(core: Node) -> Self {
        PyNode {
            core,
            inner: std::sync::OnceLock::new(),
        }
    }
}

#[pymethods]
impl PyNode {
    /// Makes a node; users call `hypernodes.node` instead.
    #[new]
    #[pyo3(signature = (func, name, params, outputs, defaults, cache=true, version=None, is_async=false, multi=false, identity=None, batch=None, batch_size=256, batch_lists=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        func: Bound<'_, PyAny>,
        name: String,
        params: Vec<String>,
        outputs: Vec<String>,
        defaults: Bound<'_, pyo3::types::PyDict>,
        cache: bool,
        version: Option<String>,
        is_async: bool,
        multi: bool,
        identity: Option<Vec<u8>>,
        batch: Option<Bound<'_, PyAny>>,
        batch_size: usize,
        batch_lists: bool,
    ) -> PyResult<Self> {
        if batch.is_some() && batch_size == 0 {
            return Err(config_error(format!(
                "node '{name}': batch_size must be at least 1, got 0"
            )));
        }
        let mut ports = Vec::with_capacity(params.len());
        for p in &params {
            let mut port = Port::new(p.as_str(), PyAnyType::arc());
            if let Some(d) = defaults.get_item(p)? {
                port = port.with_default(to_value(d));
            }
            ports.push(port);
        }
        let outs = outputs
            .iter()
            .map(|o| Port::new(o.as_str(), PyAnyType::arc()))
            .collect();
        let f = PyNodeFn {
            func: func.unbind(),
            is_async,
            multi,
            identity: std::sync::OnceLock::new(),
            batch: batch.map(|b| PyBatchFn {
                func: b.unbind(),
                size: batch_size,
                lists: batch_lists,
                outputs: outputs.len(),
            }),
        };
        if let Some(id) = identity {
            // carried over from the process that pickled the node, so keys agree across processes
            let _ = f.identity.set(id);
        }
        let mut core = Node::from_fn(name, ports, outs, Arc::new(f)).map_err(to_pyerr)?;
        core = core.with_cache(cache);
        if let Some(v) = version {
            core = core.with_version(v);
        }
        Ok(PyNode::from(core))
    }

    /// The node's name.
    #[getter]
    fn name(&self) -> &str {
        self.core.name()
    }

    /// Parameter names, in call order.
    #[getter]
    fn inputs(&self) -> Vec<String> {
        self.core.param_names().map(String::from).collect()
    }

    /// Output names: a str for a single output (unless a function node declared a tuple of one),
    /// else a tuple of str.
    #[getter]
    fn output_name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let names: Vec<&str> = self.core.output_names().collect();
        let declared_tuple = match self.core.kind() {
            NodeKind::Func(f) => as_py_fn(f.as_ref()).is_some_and(|f| f.multi),
            NodeKind::Pipeline(_) => false,
        };
        if names.len() == 1 && !declared_tuple {
            return Ok(pyo3::types::PyString::new(py, names[0]).into_any());
        }
        Ok(PyTuple::new(py, names)?.into_any())
    }

    /// Output names as a tuple.
    #[getter]
    fn outputs(&self) -> Vec<String> {
        self.core.output_names().map(String::from).collect()
    }

    /// Whether results are cached.
    #[getter]
    fn cache(&self) -> bool {
        self.core.cache()
    }

    /// The pinned code version, if any.
    #[getter]
    fn version(&self) -> Option<String> {
        self.core.version().map(String::from)
    }

    /// The wrapped function (None for a pipeline node).
    #[getter]
    fn func(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        match self.core.kind() {
            NodeKind::Func(f) => as_py_fn(f.as_ref()).map(|f| f.func.clone_ref(py)),
            NodeKind::Pipeline(_) => None,
        }
    }

    /// A dual node's batch function (None for other nodes).
    #[getter]
    fn batch(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.py_batch().map(|b| b.func.clone_ref(py))
    }

    /// A dual node's per-item function (None for other nodes).
    #[getter]
    fn singular(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.py_batch()?;
        self.func(py)
    }

    /// A dual node's most items per batch call (None for other nodes).
    #[getter]
    fn batch_size(&self) -> Option<usize> {
        self.py_batch().map(|b| b.size)
    }

    /// Whether a dual node's batch function receives plain lists (None for other nodes).
    #[getter]
    fn batch_lists(&self) -> Option<bool> {
        self.py_batch().map(|b| b.lists)
    }

    /// Whether this node wraps a pipeline.
    #[getter]
    fn is_pipeline(&self) -> bool {
        matches!(self.core.kind(), NodeKind::Pipeline(_))
    }

    /// The wrapped pipeline (None for a function node); the same object at every access.
    #[getter]
    fn pipeline(&self, py: Python<'_>) -> PyResult<Option<Py<crate::pipeline::PyPipeline>>> {
        let NodeKind::Pipeline(pn) = self.core.kind() else {
            return Ok(None);
        };
        if let Some(p) = self.inner.get() {
            return Ok(Some(p.clone_ref(py)));
        }
        let made = Py::new(py, crate::pipeline::PyPipeline::from(pn.pipeline.clone()))?;
        // another thread may have made it first: everyone gets the one that was kept
        Ok(Some(self.inner.get_or_init(|| made).clone_ref(py)))
    }

    /// Whether the node's function is a coroutine function (`async def`); False for a pipeline
    /// node.
    #[getter]
    fn is_async(&self) -> bool {
        match self.core.kind() {
            NodeKind::Func(f) => as_py_fn(f.as_ref()).is_some_and(|f| f.is_async),
            NodeKind::Pipeline(_) => false,
        }
    }

    /// The default values of the node's parameters that have one, by parameter name (a pipeline
    /// node: the defaults of its inner inputs, under their outer names).
    #[getter]
    fn defaults<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        for p in self.core.params() {
            if let Some(v) = &p.default {
                d.set_item(&*p.name, to_py(py, v))?;
            }
        }
        Ok(d)
    }

    /// Parameter names, in call order (the original HyperNodes' name for `inputs`; for a pipeline
    /// node, the outer inputs its inner pipeline still needs).
    #[getter]
    fn root_args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.core.param_names().collect::<Vec<_>>())
    }

    /// The hex digest of the node's code identity as used in cache keys (its pinned version, its
    /// function's code, or for a pipeline node its inner pipeline, mappings and map settings).
    #[getter]
    fn code_hash(&self) -> PyResult<String> {
        let key = hypernodes::for_binding::keys_node_identity(&self.core).ok_or_else(|| {
            config_error(format!(
                "node '{}': a bound value of its inner pipeline cannot be hashed",
                self.core.name()
            ))
        })?;
        Ok(key.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A pipeline node's inner bound values (`{}` for a function node).
    #[getter]
    fn bound_inputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        if let NodeKind::Pipeline(pn) = self.core.kind() {
            for (k, v) in pn.pipeline.bound() {
                d.set_item(k, to_py(py, v))?;
            }
        }
        Ok(d)
    }

    /// The outer inputs the node still needs (for a pipeline node: those its inner bindings do not
    /// satisfy, under their outer names).
    #[getter]
    fn unfulfilled_args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        self.root_args(py)
    }

    /// A pipeline node's `input_mapping` (`{outer: inner}`, as given; None for a function node).
    #[getter]
    fn input_mapping(&self) -> Option<std::collections::BTreeMap<String, String>> {
        self.pipeline_node().map(|pn| pn.spec.input_mapping.clone())
    }

    /// A pipeline node's `output_mapping` (`{inner: outer}`, as given; None when not given or for a
    /// function node).
    #[getter]
    fn output_mapping(&self) -> Option<std::collections::BTreeMap<String, String>> {
        self.pipeline_node()
            .and_then(|pn| pn.spec.output_mapping.clone())
    }

    /// A pipeline node's `map_over` (outer input names; empty when not mapped or a function node).
    #[getter]
    fn map_over(&self) -> Vec<String> {
        self.pipeline_node()
            .map(|pn| pn.spec.map_over.clone())
            .unwrap_or_default()
    }

    /// A pipeline node's `map_mode` ("zip" or "product"; None for a function node).
    #[getter]
    fn map_mode(&self) -> Option<&'static str> {
        self.pipeline_node().map(|pn| pn.map_mode.as_str())
    }

    /// For a pipeline node, the engine's wiring: `([(outer param, inner input)], [(inner output,
    /// outer output)], inner outputs computed or None for all)`; None for a function node.
    #[allow(clippy::type_complexity)]
    #[getter]
    fn _wiring(
        &self,
    ) -> Option<(
        Vec<(String, String)>,
        Vec<(String, String)>,
        Option<Vec<String>>,
    )> {
        let pn = self.pipeline_node()?;
        let ins = self
            .core
            .param_names()
            .zip(&pn.inner_inputs)
            .map(|(o, i)| (o.to_string(), i.to_string()))
            .collect();
        let outs = pn
            .inner_outputs
            .iter()
            .zip(self.core.output_names())
            .map(|(i, o)| (i.to_string(), o.to_string()))
            .collect();
        Some((ins, outs, pn.selected.clone()))
    }

    /// Calls the function directly (a decorated function stays usable as a function). A pipeline
    /// node is called with keyword inputs under its outer names and returns a dict of its exposed
    /// outputs (lists when it maps over inputs), as the node would give them in a pipeline.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: Bound<'py, PyTuple>,
        kwargs: Option<Bound<'py, pyo3::types::PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(f) = self.func(py) {
            return f.bind(py).call(args, kwargs.as_ref());
        }
        if !args.is_empty() {
            return Err(config_error(format!(
                "node '{}' wraps a pipeline: call it with keyword inputs ({})",
                self.core.name(),
                self.inputs()
                    .iter()
                    .map(|i| format!("{i}=..."))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let inputs = match &kwargs {
            Some(d) => crate::pipeline::inputs_arg(d)?,
            None => hypernodes::Inputs::new(),
        };
        let one = hypernodes::Pipeline::new([self.core.clone()])
            .map_err(to_pyerr)?
            .with_name(self.core.name());
        let out = one.run(inputs, None).map_err(crate::pipeline::run_error)?;
        Ok(crate::pipeline::outputs_to_dict(py, &out)?.into_any())
    }

    /// A copy of this node with caching on or off (nodes never change once built).
    fn with_cache(&self, cache: bool) -> PyNode {
        PyNode::from(self.core.clone().with_cache(cache))
    }

    /// A copy of this node under another name.
    fn with_name(&self, name: String) -> PyNode {
        PyNode::from(self.core.clone().with_name(name))
    }

    /// A copy of this node with its code version pinned (used in cache keys).
    fn with_version(&self, version: String) -> PyNode {
        PyNode::from(self.core.clone().with_version(version))
    }

    /// Nodes never change once built (a pipeline that holds one must not change under it): an
    /// assignment such as the original HyperNodes' `node.cache = False` says what to do instead.
    fn __setattr__(&self, name: &str, _value: Bound<'_, PyAny>) -> PyResult<()> {
        let how = match name {
            "cache" => "declare it with @node(..., cache=False), or make a copy with \
                        node.with_cache(False) and build the pipeline with the copy"
                .to_string(),
            "name" => "make a renamed copy with node.with_name(...)".to_string(),
            "version" => "declare it with @node(..., version=...), or make a copy with \
                          node.with_version(...)"
                .to_string(),
            _ => "declare it with the setting you want".to_string(),
        };
        Err(config_error(format!(
            "node '{}' cannot be changed after it is built (cannot set '{name}'): {how}",
            self.core.name()
        )))
    }

    /// Pickles the node as configuration: its function (by cloudpickle) and settings.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let m = crate::py_modules::pickling(py)?;
        match self.core.kind() {
            NodeKind::Func(f) => {
                let f = as_py_fn(f.as_ref())
                    .ok_or_else(|| config_error("only Python nodes can be pickled"))?;
                let defaults = pyo3::types::PyDict::new(py);
                for p in self.core.params() {
                    if let Some(d) = &p.default {
                        defaults.set_item(&*p.name, to_py(py, d))?;
                    }
                }
                let args = (
                    // by value (cloudpickle): the module attribute of a decorated function is the
                    // Node, so plain pickle could not find the function by reference
                    py.import("cloudpickle")?
                        .getattr("dumps")?
                        .call1((f.func.bind(py),))?,
                    self.core.name(),
                    self.inputs(),
                    self.outputs(),
                    defaults,
                    self.core.cache(),
                    self.version(),
                    f.is_async,
                    f.multi,
                    PyBytes::new(py, &f.code_identity()),
                    match &f.batch {
                        Some(b) => Some((
                            py.import("cloudpickle")?
                                .getattr("dumps")?
                                .call1((b.func.bind(py),))?,
                            b.size,
                            b.lists,
                        )),
                        None => None,
                    },
                )
                    .into_pyobject(py)?;
                Ok((m.getattr("rebuild_node")?, args))
            }
            NodeKind::Pipeline(pn) => {
                let spec = &pn.spec;
                let pipeline = crate::pipeline::PyPipeline::from(pn.pipeline.clone());
                let args = (
                    pipeline,
                    self.core.name(),
                    spec.input_mapping.clone(),
                    spec.output_mapping.clone(),
                    spec.map_over.clone(),
                    spec.map_mode.as_str(),
                    self.core.cache(),
                )
                    .into_pyobject(py)?;
                Ok((m.getattr("rebuild_pipeline_node")?, args))
            }
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        crate::py_modules::viz_inspect(slf.py())?
            .getattr("node_repr")?
            .call1((slf,))?
            .extract()
    }
}

impl PyNode {
    fn py_batch(&self) -> Option<&PyBatchFn> {
        match self.core.kind() {
            NodeKind::Func(f) => as_py_fn(f.as_ref())?.batch.as_ref(),
            NodeKind::Pipeline(_) => None,
        }
    }

    fn pipeline_node(&self) -> Option<&hypernodes::PipelineNode> {
        match self.core.kind() {
            NodeKind::Pipeline(pn) => Some(pn),
            NodeKind::Func(_) => None,
        }
    }
}

/// `module.qualname` of a callable (no memory address).
fn qualified_name(f: &Bound<'_, PyAny>) -> String {
    let part = |attr: &str| {
        f.getattr(attr)
            .and_then(|v| v.extract::<String>())
            .unwrap_or_else(|_| "?".to_string())
    };
    format!("{}.{}", part("__module__"), part("__qualname__"))
}

/// The Python function behind a node, when the node is a Python function node.
pub fn as_py_fn(f: &dyn NodeFn) -> Option<&PyNodeFn> {
    (f as &dyn std::any::Any).downcast_ref::<PyNodeFn>()
}
