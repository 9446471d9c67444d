//! The `Pipeline` class: a thin wrapper over the engine's pipeline.

use std::collections::BTreeMap;

use std::sync::Arc;

use hypernodes::{AsNode, Callbacks, Inputs, MapMode, Node, OnError, Outputs, Pipeline, Setting};
use pyo3::prelude::*;

use crate::convert::{names, Names, Wrap};
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors::{config_error, to_pyerr};

/// `Pipeline._plan`'s answer: node indices in order, root inputs, outputs, narrowed positions.
type PlanParts = (
    Vec<usize>,
    Vec<String>,
    Vec<String>,
    std::collections::HashMap<usize, Vec<usize>>,
);
use crate::executor::{executor_arg, executor_to_py};
use crate::node::PyNode;
use crate::values::{to_py, to_value};

/// An immutable DAG of nodes wired by name. Run it once (`run`), over lists (`map`), or nest it in
/// another pipeline (`as_node`).
#[pyclass(name = "Pipeline", module = "hypernodes", frozen)]
pub struct PyPipeline {
    pub core: Pipeline,
    /// The nodes as Python objects (`pipeline.nodes` gives the same objects at every access),
    /// made on first access.
    nodes: std::sync::OnceLock<Vec<Py<PyNode>>>,
}

impl From<Pipeline> for PyPipeline {
    fn from(core: Pipeline) -> Self {
        PyPipeline {
            core,
            nodes: std::sync::OnceLock::new(),
        }
    }
}

/// A `str | list[str] | tuple[str] | None` argument as names.
pub fn names_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<String>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Some(vec![s.to_str()?.to_owned()]));
    }
    let names: Vec<String> = obj
        .try_iter()
        .and_then(|it| it.map(|x| x?.extract::<String>()).collect())
        .map_err(|_| config_error(format!("expected a name or a list of names, got {obj}")))?;
    Ok(Some(names))
}

/// An `inputs` dict as engine inputs.
pub fn inputs_arg(d: &Bound<'_, PyDict>) -> PyResult<Inputs> {
    let mut inputs = Inputs::with_capacity(d.len());
    for (k, v) in d.iter() {
        let key = k
            .cast::<PyString>()
            .map_err(|_| config_error(format!("input names must be str, got {k:?}")))?;
        inputs.insert(key.to_str()?.to_owned(), to_value(v));
    }
    Ok(inputs)
}

/// Engine inputs as a dict.
pub fn inputs_to_dict<'py>(py: Python<'py>, inputs: &Inputs) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in inputs {
        d.set_item(k, to_py(py, v))?;
    }
    Ok(d)
}

impl PyPipeline {
    /// A Python `Pipeline` object for an engine pipeline.
    pub fn to_py(py: Python<'_>, pipeline: &Pipeline) -> PyResult<Py<PyPipeline>> {
        Py::new(py, PyPipeline::from(pipeline.clone()))
    }
}

/// One run's outputs as a dict.
pub fn outputs_to_dict<'py>(py: Python<'py>, out: &Outputs) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in out.iter() {
        d.set_item(PyString::new(py, k), to_py(py, v))?;
    }
    Ok(d)
}

/// A map's results that went on past failures: a dict per item, or the failed item's exception.
pub fn each_to_list<'py>(
    py: Python<'py>,
    out: Vec<hypernodes::Result<Outputs>>,
) -> PyResult<Bound<'py, PyList>> {
    let items = out
        .into_iter()
        .map(|r| match r {
            Ok(o) => outputs_to_dict(py, &o).map(|d| d.into_any()),
            Err(e) => Ok(to_pyerr(e).into_value(py).into_bound(py).into_any()),
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// A map's results as a list of dicts.
pub fn results_to_list<'py>(py: Python<'py>, out: &[Outputs]) -> PyResult<Bound<'py, PyList>> {
    let dicts = out
        .iter()
        .map(|o| outputs_to_dict(py, o))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, dicts)
}

/// A map's results held as columns (lists, see [`hypernodes::Columns`]) as a list of dicts: one
/// pass per output over its lists, no per-item engine value.
pub fn columns_to_list<'py>(
    py: Python<'py>,
    cols: &hypernodes::Columns,
) -> PyResult<Bound<'py, PyList>> {
    let dicts: Vec<Bound<'py, PyDict>> = (0..cols.len()).map(|_| PyDict::new(py)).collect();
    for (name, chunks) in cols.outputs() {
        let key = PyString::intern(py, name);
        let mut at = 0;
        for chunk in chunks {
            for v in to_py(py, chunk).try_iter()? {
                let d = dicts.get(at).ok_or_else(|| {
                    pyo3::exceptions::PyValueError::new_err(format!(
                        "output '{name}' has more values than the map has items"
                    ))
                })?;
                d.set_item(&key, v?)?;
                at += 1;
            }
        }
    }
    PyList::new(py, dicts)
}

fn node_arg(i: usize, obj: &Bound<'_, PyAny>) -> PyResult<Node> {
    if let Ok(n) = obj.cast::<PyNode>() {
        return Ok(n.get().core.clone());
    }
    if let Ok(p) = obj.cast::<PyPipeline>() {
        return p.get().core.as_node(AsNode::default()).map_err(to_pyerr);
    }
    let what = obj
        .getattr("__name__")
        .map(|n| format!("'{n}'"))
        .unwrap_or_else(|_| format!("{obj:?}"));
    Err(config_error(format!(
        "nodes[{i}] ({what}) is not a node: decorate functions with @node or pass a Pipeline"
    )))
}

fn map_arg(obj: Option<&Bound<'_, PyDict>>) -> PyResult<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    if let Some(d) = obj {
        for (k, v) in d.iter() {
            m.insert(k.extract()?, v.extract()?);
        }
    }
    Ok(m)
}

/// A `cache=` argument as a setting: a cache, or False (off here and below).
fn cache_setting(c: &Bound<'_, PyAny>) -> PyResult<Setting<Arc<dyn hypernodes::Cache>>> {
    if c.is_none() {
        return Ok(Setting::Inherit);
    }
    if c.is_instance_of::<pyo3::types::PyBool>() {
        if c.extract::<bool>()? {
            return Err(config_error(
                "cache=True is ambiguous: pass MemoryCache() or DiskCache(path)",
            ));
        }
        return Ok(Setting::Off);
    }
    Ok(Setting::On(crate::cache::cache_arg(c)?))
}

/// A `callbacks=` argument as a setting: a list of `Callback`s, or [] (off here and below).
fn callbacks_setting(cbs: &Bound<'_, PyAny>) -> PyResult<Setting<Arc<Callbacks>>> {
    if cbs.is_none() {
        return Ok(Setting::Inherit);
    }
    let list = PyList::new(cbs.py(), cbs.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
    if list.is_empty() {
        return Ok(Setting::Off);
    }
    let base = crate::py_modules::callbacks(cbs.py())?.getattr("Callback")?;
    for (i, cb) in list.iter().enumerate() {
        if !cb.is_instance(&base)? {
            return Err(config_error(format!(
                "callbacks[{i}] ({cb}) is not a hypernodes.Callback"
            )));
        }
    }
    let py_cbs = crate::callbacks::PyCallbacks {
        list: list.unbind(),
    };
    Ok(Setting::On(Arc::new(Callbacks::new(vec![Arc::new(
        py_cbs,
    )]))))
}

/// Raises the error for keyword arguments `owner` does not take, naming our spelling of the
/// original HyperNodes' renamed ones (`engine=` and friends).
pub fn reject_kwargs(owner: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    match kwargs.filter(|k| !k.is_empty()) {
        None => Ok(()),
        Some(k) => {
            let m = crate::py_modules::renamed(k.py())?;
            m.getattr("reject_kwargs")?.call1((owner, k))?;
            Ok(())
        }
    }
}

/// The `inputs` of a run or map as engine inputs: every given name is checked by the engine
/// ([`Pipeline::check_inputs`]); with `ignore_unknown`, names the pipeline does not know are
/// dropped after the missing-input check (which may suggest one of them).
pub fn given_inputs(
    core: &Pipeline,
    inputs: Option<&Bound<'_, PyDict>>,
    selected: Option<&[String]>,
    later: &[String],
    ignore_unknown: bool,
) -> PyResult<Inputs> {
    let mut given = match inputs {
        Some(d) => inputs_arg(d)?,
        None => Inputs::new(),
    };
    if ignore_unknown {
        core.check_inputs(&given, selected, later, true)
            .map_err(to_pyerr)?;
        core.retain_known(&mut given);
    }
    Ok(given)
}

/// The Python error for an engine error of a run or map; an unknown name gets a note saying how
/// to pass names the pipeline does not use on purpose.
pub fn run_error(err: hypernodes::Error) -> PyErr {
    let unknown = matches!(err, hypernodes::Error::UnknownInput { .. });
    let e = to_pyerr(err);
    if unknown {
        Python::attach(|py| {
            let _ = e.value(py).call_method1(
                "add_note",
                (
                    "to pass names a pipeline does not use on purpose (one dict shared by several \
                  pipelines), call pipeline.run(...) or pipeline.map(...) with \
                  ignore_unknown_inputs=True",
                ),
            );
        });
    }
    e
}

#[pymethods]
impl PyPipeline {
    #[new]
    #[pyo3(signature = (nodes, name=None, executor=None, cache=None, callbacks=None, **renamed))]
    fn new(
        nodes: &Bound<'_, PyAny>,
        name: Option<String>,
        executor: Option<&Bound<'_, PyAny>>,
        cache: Option<&Bound<'_, PyAny>>,
        callbacks: Option<&Bound<'_, PyAny>>,
        renamed: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        reject_kwargs("Pipeline", renamed)?;
        let nodes = nodes
            .try_iter()?
            .enumerate()
            .map(|(i, n)| node_arg(i, &n?))
            .collect::<PyResult<Vec<_>>>()?;
        let mut core = Pipeline::new(nodes).map_err(to_pyerr)?;
        if let Some(n) = name {
            core = core.with_name(n);
        }
        if let Some(e) = executor_arg(executor) {
            core = core.with_executor(Some(e));
        }
        if let Some(c) = cache {
            core = core.with_cache(cache_setting(c)?);
        }
        if let Some(cbs) = callbacks {
            core = core.with_callbacks(callbacks_setting(cbs)?);
        }
        Ok(PyPipeline::from(core))
    }

    /// A new pipeline, the same but named `name`.
    fn with_name(&self, name: String) -> Self {
        PyPipeline::from(self.core.with_name(name))
    }

    /// A new pipeline, the same but run by `executor` (None: inherited from the enclosing one).
    fn with_executor(&self, executor: Option<&Bound<'_, PyAny>>) -> Self {
        PyPipeline::from(self.core.with_executor(executor_arg(executor)))
    }

    /// A new pipeline, the same but with `cache`: a cache, False (off here and below) or None
    /// (inherited).
    fn with_cache(&self, cache: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PyPipeline::from(
            self.core.with_cache(cache_setting(cache)?),
        ))
    }

    /// A new pipeline, the same but with `callbacks`: a list ([] = off here and below) or None
    /// (inherited).
    fn with_callbacks(&self, callbacks: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PyPipeline::from(
            self.core.with_callbacks(callbacks_setting(callbacks)?),
        ))
    }

    /// Checks the names of a run or map as `run` and `map` do, without running: raises
    /// `UnknownInputError` or `MissingInputError` (for executors written in Python).
    #[pyo3(signature = (inputs, output_name=None, map_over=None))]
    fn _check_inputs(
        &self,
        inputs: &Bound<'_, PyDict>,
        output_name: Option<Names>,
        map_over: Option<Names>,
    ) -> PyResult<()> {
        let selected = names(output_name);
        let later = names(map_over).unwrap_or_default();
        self.core
            .check_inputs(&inputs_arg(inputs)?, selected.as_deref(), &later, false)
            .map_err(run_error)
    }

    /// Names of the original HyperNodes that are spelled differently here fail naming ours.
    fn __getattr__(slf: &Bound<'_, Self>, name: &str) -> PyResult<Py<PyAny>> {
        let m = crate::py_modules::renamed(slf.py())?;
        Err(PyErr::from_value(
            m.getattr("attribute_error")?.call1(("Pipeline", name))?,
        ))
    }

    /// The pipeline's name (a deterministic default when not given).
    #[getter]
    fn name(&self) -> &str {
        self.core.name()
    }

    /// The nodes, sorted by name: a new list of the same node objects at every access.
    #[getter]
    fn nodes(&self, py: Python<'_>) -> PyResult<Vec<Py<PyNode>>> {
        if self.nodes.get().is_none() {
            let made = (self.core.nodes().iter())
                .map(|n| Py::new(py, PyNode::from(n.clone())))
                .collect::<PyResult<Vec<_>>>()?;
            // another thread may have made them first: everyone gets the ones that were kept
            let _ = self.nodes.set(made);
        }
        let kept = self.nodes.get().expect("set above");
        Ok(kept.iter().map(|n| n.clone_ref(py)).collect())
    }

    /// Required root inputs (not bound, no default), sorted.
    #[getter]
    fn inputs(&self) -> Vec<String> {
        self.core.inputs()
    }

    /// Root inputs that have a default and are not bound, sorted.
    #[getter]
    fn optional_inputs(&self) -> Vec<String> {
        self.core.optional_inputs()
    }

    /// Every output name, in pipeline order.
    #[getter]
    fn outputs(&self) -> Vec<String> {
        self.core.outputs()
    }

    /// The values bound with `bind`.
    #[getter]
    fn bound<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.core.bound() {
            d.set_item(k, to_py(py, v))?;
        }
        Ok(d)
    }

    /// The cache set on this pipeline: a cache, False (off here and below) or None (inherited).
    #[getter]
    fn cache(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self.core.cache_setting() {
            Setting::Inherit => py.None(),
            Setting::Off => false.into_pyobject(py)?.to_owned().into_any().unbind(),
            Setting::On(c) => crate::cache::cache_to_py(py, c)?,
        })
    }

    /// The callbacks set on this pipeline: a list ([] = off here and below) or None (inherited).
    #[getter]
    fn callbacks(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self.core.callbacks_setting() {
            Setting::Inherit => py.None(),
            Setting::Off => PyList::empty(py).into_any().unbind(),
            Setting::On(c) => {
                let out = PyList::empty(py);
                for cb in c.list() {
                    let any: &dyn std::any::Any = cb.as_ref();
                    if let Some(p) = any.downcast_ref::<crate::callbacks::PyCallbacks>() {
                        for item in p.list.bind(py).iter() {
                            out.append(item)?;
                        }
                    }
                }
                out.into_any().unbind()
            }
        })
    }

    /// The engine's plan for `output_name` (None: every output), for executors written in Python:
    /// `(node indices in topological order, root inputs needed (sorted), outputs returned (in
    /// order), {node index: output positions needed} for nodes of which only some are)`. Node
    /// indices are positions in `nodes`. Raises the engine's error for an unknown output.
    fn _plan(&self, output_name: Option<Vec<String>>) -> PyResult<PlanParts> {
        let plan = self.core.plan(output_name.as_deref()).map_err(to_pyerr)?;
        let names = &self.core.graph().names;
        let name = |v: &usize| names[*v].to_string();
        Ok((
            plan.nodes.clone(),
            plan.inputs.iter().map(name).collect(),
            plan.outputs.iter().map(name).collect(),
            plan.narrowed.clone(),
        ))
    }

    /// The engine's wiring, for code written in Python: `{value name: (node index, output
    /// position)}` for every value a node produces (node indices are positions in `nodes`).
    fn _producers(&self) -> std::collections::HashMap<String, (usize, usize)> {
        let g = self.core.graph();
        g.names
            .iter()
            .zip(&g.producer)
            .filter_map(|(name, p)| Some((name.to_string(), (*p)?)))
            .collect()
    }

    /// The root inputs a run of the selected outputs reads, for executors written in Python: the
    /// given value, else the bound one, else the consuming node's default (the engine's rule);
    /// inputs in `later` (mapped) are left out. Every missing input is reported at once.
    #[pyo3(signature = (output_name, inputs, later))]
    fn _root_values<'py>(
        &self,
        py: Python<'py>,
        output_name: Option<Vec<String>>,
        inputs: &Bound<'py, PyDict>,
        later: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let plan = self.core.plan(output_name.as_deref()).map_err(to_pyerr)?;
        let slots = self
            .core
            .input_slots(&plan, &inputs_arg(inputs)?, &later)
            .map_err(to_pyerr)?;
        let names = &self.core.graph().names;
        let out = PyDict::new(py);
        for &v in &plan.inputs {
            if let Some(value) = &slots[v] {
                out.set_item(&*names[v], crate::values::to_py(py, value))?;
            }
        }
        Ok(out)
    }

    /// The items of a map, for executors written in Python: one tuple of values (in `map_over`
    /// order) per item, split and checked by the engine's rules (its errors name the inputs).
    #[pyo3(signature = (inputs, map_over, map_mode=Wrap(MapMode::Zip)))]
    #[pyo3(text_signature = "(self, inputs, map_over, map_mode='zip')")]
    fn _map_items<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyDict>,
        map_over: Vec<String>,
        map_mode: Wrap<MapMode>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let mode = map_mode.0;
        let items = self
            .core
            .map_items(&inputs_arg(inputs)?, &map_over, mode)
            .map_err(to_pyerr)?;
        items
            .iter()
            .map(|item| PyTuple::new(py, item.iter().map(|v| to_py(py, v))))
            .collect()
    }

    /// The executor set on this pipeline (None: inherited).
    #[getter]
    fn executor(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.core
            .executor()
            .map(|e| executor_to_py(py, e))
            .transpose()
    }

    /// Runs the pipeline once. Returns every output of every node that ran, or only those named by
    /// `output_name` (a name or a list); only the inputs the selected part needs are required.
    /// A name that is neither an input nor an output raises `UnknownInputError` (suggesting the
    /// closest input) unless `ignore_unknown_inputs=True`.
    #[pyo3(signature = (inputs=None, output_name=None, *, ignore_unknown_inputs=false))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: Option<&Bound<'py, PyDict>>,
        output_name: Option<Names>,
        ignore_unknown_inputs: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let selected = names(output_name);
        let inputs = given_inputs(
            &self.core,
            inputs,
            selected.as_deref(),
            &[],
            ignore_unknown_inputs,
        )?;
        let out = self
            .core
            .run(inputs, selected.as_deref())
            .map_err(run_error)?;
        outputs_to_dict(py, &out)
    }

    /// In a worker: runs the pipeline as part of a run a caller started at `origin` (`(path,
    /// enclosing item indices, map depth)`), so events and error notes name the caller's path.
    #[pyo3(signature = (inputs, output_name, origin))]
    fn _run_at<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyDict>,
        output_name: Option<Names>,
        origin: (Vec<String>, Vec<usize>, usize),
    ) -> PyResult<Bound<'py, PyDict>> {
        let selected = names(output_name);
        let origin = hypernodes::executor_api::Origin {
            path: origin.0,
            items: origin.1,
            map_depth: origin.2,
        };
        let out = hypernodes::for_binding::run_at(
            &self.core,
            inputs_arg(inputs)?,
            selected.as_deref(),
            &origin,
        )
        .map_err(to_pyerr)?;
        outputs_to_dict(py, &out)
    }

    /// Runs the pipeline once per item of the lists named in `map_over` ("zip": element-wise,
    /// "product": every combination); other inputs are broadcast. Returns a list of dicts in order.
    /// `inputs` may be left out when the mapped lists and every other input are bound.
    /// `on_error="continue"`: every item runs, and a failed item's place holds its exception.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (inputs=None, map_over=None, map_mode=Wrap(MapMode::Zip), output_name=None, on_error=Wrap(OnError::Raise), *, ignore_unknown_inputs=false))]
    #[pyo3(
        text_signature = "(self, inputs=None, map_over=None, map_mode='zip', output_name=None, on_error='raise', *, ignore_unknown_inputs=False)"
    )]
    fn map<'py>(
        &self,
        py: Python<'py>,
        inputs: Option<&Bound<'py, PyDict>>,
        map_over: Option<Names>,
        map_mode: Wrap<MapMode>,
        output_name: Option<Names>,
        on_error: Wrap<OnError>,
        ignore_unknown_inputs: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let (mode, on_error) = (map_mode.0, on_error.0);
        let selected = names(output_name);
        let map_over = names(map_over).unwrap_or_default();
        let inputs = given_inputs(
            &self.core,
            inputs,
            selected.as_deref(),
            &map_over,
            ignore_unknown_inputs,
        )?;
        if on_error == OnError::Continue {
            let out = self
                .core
                .map_each(inputs, &map_over, mode, selected.as_deref())
                .map_err(run_error)?;
            return each_to_list(py, out);
        }
        let out = self
            .core
            .map_columns(inputs, &map_over, mode, selected.as_deref())
            .map_err(run_error)?;
        match out {
            hypernodes::MapResults::Rows(rows) => results_to_list(py, &rows),
            hypernodes::MapResults::Columns(cols) => columns_to_list(py, &cols),
        }
    }

    /// Wraps the pipeline as a node. `input_mapping` is `{outer: inner}`, `output_mapping` is
    /// `{inner: outer}` (only mapped outputs are exposed and computed), `map_over` names outer inputs.
    #[pyo3(signature = (name=None, input_mapping=None, output_mapping=None, map_over=None, map_mode=Wrap(MapMode::Zip), cache=true))]
    #[pyo3(
        text_signature = "(self, name=None, input_mapping=None, output_mapping=None, map_over=None, map_mode='zip', cache=True)"
    )]
    fn as_node(
        &self,
        name: Option<String>,
        input_mapping: Option<&Bound<'_, PyDict>>,
        output_mapping: Option<&Bound<'_, PyDict>>,
        map_over: Option<Names>,
        map_mode: Wrap<MapMode>,
        cache: bool,
    ) -> PyResult<PyNode> {
        let spec = AsNode {
            name,
            input_mapping: map_arg(input_mapping)?,
            output_mapping: output_mapping.map(|m| map_arg(Some(m))).transpose()?,
            map_over: names(map_over).unwrap_or_default(),
            map_mode: map_mode.0,
            cache: Some(cache),
        };
        let core = self.core.as_node(spec).map_err(to_pyerr)?;
        Ok(PyNode::from(core))
    }

    /// A new pipeline with values bound to inputs (run inputs still override them).
    #[pyo3(signature = (**values))]
    fn bind(&self, values: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let vals = match values {
            Some(d) => inputs_arg(d)?,
            None => Inputs::new(),
        };
        let core = self.core.bind(vals).map_err(to_pyerr)?;
        Ok(PyPipeline::from(core))
    }

    /// A new pipeline without the named bound values (all of them when no name is given).
    #[pyo3(signature = (*names))]
    fn unbind(&self, names: &Bound<'_, PyTuple>) -> PyResult<Self> {
        let names: Vec<String> = names.extract()?;
        let core = self.core.unbind(&names).map_err(to_pyerr)?;
        Ok(PyPipeline::from(core))
    }

    /// Pickles the pipeline as configuration (nodes, name, executor, bound values), never as state.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let m = crate::py_modules::pickling(py)?;
        let settings = PyDict::new(py);
        settings.set_item("cache", self.cache(py)?)?;
        settings.set_item("callbacks", self.callbacks(py)?)?;
        let args = (
            self.nodes(py)?,
            self.core.name(),
            self.executor(py)?,
            self.bound(py)?,
            settings,
        )
            .into_pyobject(py)?;
        Ok((m.getattr("rebuild_pipeline")?, args))
    }

    /// A picture of the pipeline (see `hypernodes._viz.visualize` for the arguments): an object
    /// that displays itself in Jupyter and saves to .svg/.png/.pdf/.dot/.html.
    #[pyo3(signature = (*args, **kwargs))]
    fn visualize<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let all = PyTuple::new(
            slf.py(),
            std::iter::once(slf.as_any().clone())
                .chain(args.iter())
                .collect::<Vec<_>>(),
        )?;
        viz(slf.py(), "visualize")?.call(all, kwargs)
    }

    /// The values bound with `bind` (the original HyperNodes' name for `bound`).
    #[getter]
    fn bound_inputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.bound(py)
    }

    /// Root inputs not satisfied by bound values (required and defaulted), sorted.
    #[getter]
    fn unfulfilled_args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let mut names = self.core.inputs();
        names.extend(self.core.optional_inputs());
        names.sort();
        PyTuple::new(py, names)
    }

    /// The pipeline as a `networkx.DiGraph` (needs networkx).
    #[getter]
    fn graph<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        viz(slf.py(), "to_networkx")?.call1((slf,))
    }

    /// Jupyter display: the picture as SVG.
    fn _repr_svg_<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        viz(slf.py(), "repr_svg")?.call1((slf,))
    }

    /// Jupyter display: the picture as HTML.
    fn _repr_html_<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        viz(slf.py(), "repr_html")?.call1((slf,))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        viz(slf.py(), "pipeline_repr")?.call1((slf,))?.extract()
    }
}

/// A function of `hypernodes._viz` (pictures and inspection live in Python).
fn viz<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    crate::py_modules::viz(py)?.getattr(name)
}
