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
}

impl PyNodeFn {
    fn call_py<'py>(&self, py: Python<'py>, args: &[Value]) -> PyResult<Bound<'py, PyAny>> {
        let args = PyTuple::new(py, args.iter().map(|v| to_py(py, v)))?;
        let mut out = self.func.bind(py).call1(args)?;
        if self.is_async {
            out = py
                .import("hypernodes._aio")?
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
        Python::attach(|py| Ok(unpack(self.call_py(py, &args)?, self.multi)))
            .map_err(|e: PyErr| Box::new(e) as BoxError)
    }

    fn code_identity(&self) -> Vec<u8> {
        // Not `get_or_init`: the computation runs Python, which may let another thread take the
        // interpreter lock and then wait for this cell (see `hypernodes::memo`).
        hypernodes::memo::memoize(&self.identity, || {
            Python::attach(|py| {
                let f = self.func.bind(py);
                crate::code::code_identity(f).unwrap_or_else(|e| {
                    // Never by name alone (a wrong hit once the code changes): an identity of
                    // this process only, so its entries are never reused by another process.
                    let name = qualified_name(f);
                    hypernodes::warn::warn(&format!(
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
}

#[pymethods]
impl PyNode {
    /// Makes a node; users call `hypernodes.node` instead.
    #[new]
    #[pyo3(signature = (func, name, params, outputs, defaults, cache=true, version=None, is_async=false, multi=false, identity=None))]
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
    ) -> PyResult<Self> {
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
        Ok(PyNode { core })
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

    /// Output names: a str for a single-output function node, else a tuple of str.
    #[getter]
    fn output_name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let names: Vec<&str> = self.core.output_names().collect();
        if names.len() == 1 && matches!(self.core.kind(), NodeKind::Func(_)) {
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

    /// Whether this node wraps a pipeline.
    #[getter]
    fn is_pipeline(&self) -> bool {
        matches!(self.core.kind(), NodeKind::Pipeline(_))
    }

    /// The wrapped pipeline (None for a function node).
    #[getter]
    fn pipeline(&self) -> Option<crate::pipeline::PyPipeline> {
        match self.core.kind() {
            NodeKind::Pipeline(pn) => Some(crate::pipeline::PyPipeline {
                core: pn.pipeline.clone(),
            }),
            NodeKind::Func(_) => None,
        }
    }

    /// Calls the function directly (a decorated function stays usable as a function).
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: Bound<'py, PyTuple>,
        kwargs: Option<Bound<'py, pyo3::types::PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.func(py) {
            Some(f) => f.bind(py).call(args, kwargs.as_ref()),
            None => Err(config_error(format!(
                "node '{}' wraps a pipeline; run the pipeline instead of calling the node",
                self.core.name()
            ))),
        }
    }

    /// Pickles the node as configuration: its function (by cloudpickle) and settings.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let m = py.import("hypernodes._pickle")?;
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
                )
                    .into_pyobject(py)?;
                Ok((m.getattr("rebuild_node")?, args))
            }
            NodeKind::Pipeline(pn) => {
                let spec = &pn.spec;
                let pipeline = crate::pipeline::PyPipeline {
                    core: pn.pipeline.clone(),
                };
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

    fn __repr__(&self) -> String {
        format!(
            "Node(name={:?}, inputs={:?}, outputs={:?})",
            self.core.name(),
            self.inputs(),
            self.outputs()
        )
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
