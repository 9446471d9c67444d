//! How the instances of a class are hashed, decided once per class and remembered: the [`Kind`] of
//! encoding, the class's encoded name, its dataclass or pydantic fields, its public slots and what a
//! subclass adds to its base value ([`Extra`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyByteArray, PyBytes, PyComplex, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyModule, PySet,
    PyString, PyTuple, PyType,
};

use super::Encoder;

/// Python objects the encoder compares types against, looked up once.
static DATACLASS_FIELDS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ENUM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static FUNCTION: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BUILTIN: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static METHOD: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PARTIAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SIMPLE_NAMESPACE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
/// `numpy.ndarray`, `numpy.generic` and `numpy.ascontiguousarray`.
type Numpy = (Py<PyType>, Py<PyType>, Py<PyAny>);
/// numpy's objects, once numpy has been imported.
pub(super) static NUMPY: PyOnceLock<Numpy> = PyOnceLock::new();

/// numpy's types, when numpy is imported (if it is not, no value can be a numpy object).
fn numpy(py: Python<'_>) -> PyResult<Option<&'static Numpy>> {
    if let Some(np) = NUMPY.get(py) {
        return Ok(Some(np));
    }
    let modules = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "modules"))?;
    if !modules.contains(intern!(py, "numpy"))? {
        return Ok(None);
    }
    NUMPY
        .get_or_try_init(py, || -> PyResult<_> {
            let np = py.import(intern!(py, "numpy"))?;
            Ok((
                np.getattr(intern!(py, "ndarray"))?
                    .cast_into::<PyType>()?
                    .unbind(),
                np.getattr(intern!(py, "generic"))?
                    .cast_into::<PyType>()?
                    .unbind(),
                np.getattr(intern!(py, "ascontiguousarray"))?.unbind(),
            ))
        })
        .map(Some)
}

/// How the instances of a class are hashed, decided once per class (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    CacheKey,
    Dataclass,
    Pydantic,
    Array,
    NumpyScalar,
    Enum,
    Function,
    Builtin,
    Method,
    Module,
    Partial,
    Subclass,
    Attributes,
    Pickle,
}

/// What the encoder needs to know about a class.
pub(super) struct TypeInfo {
    pub(super) kind: Kind,
    /// `__module__` and `__qualname__`, encoded.
    pub(super) name: Vec<u8>,
    /// The fields of a dataclass or pydantic model, in declaration order.
    pub(super) fields: Vec<Py<PyString>>,
    /// Public slot names (mangled), along the class's MRO, for instances that also have a
    /// `__dict__` (instances with slots only are keyed by their reduced state).
    pub(super) slots: Vec<Py<PyString>>,
    /// What else than the base value a subclass of a builtin type or of `ndarray` adds.
    pub(super) extra: Extra,
}

/// The part of a value that its base encoding (builtin value, array bytes) leaves out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Extra {
    /// Nothing: an exact `ndarray`, or a class that is not a subclass.
    None,
    /// A subclass: its class and instance attributes.
    Subclass,
    /// `collections.defaultdict` (or a subclass): also its `default_factory`.
    DefaultDict,
    /// `collections.OrderedDict` (or a subclass): its items in order, as its `==` compares them.
    OrderedDict,
    /// `numpy.ma.MaskedArray` (or a subclass): also its mask and fill value.
    Masked,
}

/// Classes seen so far, by address. The class is held, so that its address is not reused while
/// it is here. A class that gains or loses `__cache_key__` after its first hash is classified
/// again: each hash checks that once per class it meets (see [`type_info`]).
type TypeCache = HashMap<usize, (Py<PyType>, Arc<TypeInfo>)>;
static TYPE_CACHE: Mutex<Option<TypeCache>> = Mutex::new(None);
/// Classes kept at most; the cache starts over when full (classes made in a loop, say).
const TYPE_CACHE_MAX: usize = 4096;

/// How instances of `tp` are hashed. `checked` lists the classes whose remembered decision this
/// hash has already confirmed: the first time a hash meets a class, it checks that the class
/// still has (or still lacks) `__cache_key__`, so one added to the class later is honoured.
pub(super) fn type_info(
    tp: &Bound<'_, PyType>,
    checked: &mut Vec<usize>,
) -> PyResult<Arc<TypeInfo>> {
    let key = tp.as_ptr() as usize;
    let known = {
        let cache = TYPE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .as_ref()
            .and_then(|c| c.get(&key))
            .map(|(_, info)| info.clone())
    };
    if let Some(info) = known {
        if checked.contains(&key) {
            return Ok(info);
        }
        let has_key = tp.getattr_opt(intern!(tp.py(), "__cache_key__"))?.is_some();
        if has_key == (info.kind == Kind::CacheKey) {
            checked.push(key);
            return Ok(info);
        }
    }
    checked.push(key);
    // Classified outside the lock: this calls Python.
    let info = Arc::new(classify(tp)?);
    // Entries leaving the cache are dropped after the lock is released: dropping a class can run
    // Python code (weakref callbacks), which may hash again.
    let (evicted, replaced) = {
        let mut guard = TYPE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let cache = guard.get_or_insert_with(HashMap::new);
        let evicted = if cache.len() >= TYPE_CACHE_MAX {
            std::mem::take(cache)
        } else {
            HashMap::new()
        };
        let replaced = cache.insert(key, (tp.clone().unbind(), info.clone()));
        (evicted, replaced)
    };
    drop((evicted, replaced));
    Ok(info)
}

fn classify(tp: &Bound<'_, PyType>) -> PyResult<TypeInfo> {
    let py = tp.py();
    let mut enc = Encoder {
        py,
        buf: Vec::new(),
        spare: Vec::new(),
        checked: Vec::new(),
    };
    enc.put_type(tp)?;
    let mut info = TypeInfo {
        kind: Kind::Pickle,
        name: enc.buf,
        fields: Vec::new(),
        slots: public_slots(tp)?,
        extra: Extra::None,
    };
    let is = |t: &Bound<'_, PyType>| tp.is_subclass(t);
    info.kind = if tp.getattr_opt(intern!(py, "__cache_key__"))?.is_some() {
        Kind::CacheKey
    } else if tp
        .getattr_opt(intern!(py, "__dataclass_fields__"))?
        .is_some()
    {
        let fields_fn = DATACLASS_FIELDS.get_or_try_init(py, || -> PyResult<_> {
            Ok(py.import("dataclasses")?.getattr("fields")?.unbind())
        })?;
        for f in fields_fn.bind(py).call1((tp,))?.try_iter()? {
            let name = f?.getattr(intern!(py, "name"))?;
            info.fields.push(name.cast_into::<PyString>()?.unbind());
        }
        Kind::Dataclass
    } else if let Some(fields) = tp
        .getattr_opt(intern!(py, "model_fields"))?
        .filter(|f| f.is_instance_of::<PyDict>())
    {
        for name in fields.cast::<PyDict>()?.keys() {
            info.fields.push(name.cast_into::<PyString>()?.unbind());
        }
        Kind::Pydantic
    } else if let Some(np) = numpy(py)?.filter(|np| is(np.0.bind(py)).unwrap_or(false)) {
        info.extra = if tp.is(np.0.bind(py)) {
            Extra::None
        } else if is(&py
            .import(intern!(py, "numpy.ma"))?
            .getattr(intern!(py, "MaskedArray"))?
            .cast_into::<PyType>()?)?
        {
            Extra::Masked
        } else {
            Extra::Subclass
        };
        Kind::Array
    } else if numpy(py)?.is_some_and(|np| is(np.1.bind(py)).unwrap_or(false)) {
        Kind::NumpyScalar
    } else if is(ENUM.import(py, "enum", "Enum")?)? {
        Kind::Enum
    } else if is(FUNCTION.import(py, "types", "FunctionType")?)? {
        Kind::Function
    } else if is(BUILTIN.import(py, "types", "BuiltinFunctionType")?)? {
        Kind::Builtin
    } else if is(METHOD.import(py, "types", "MethodType")?)? {
        Kind::Method
    } else if is(&py.get_type::<PyModule>())? {
        Kind::Module
    } else if is(PARTIAL.import(py, "functools", "partial")?)? {
        Kind::Partial
    } else if [
        py.get_type::<PyString>(),
        py.get_type::<PyInt>(),
        py.get_type::<PyFloat>(),
        py.get_type::<PyComplex>(),
        py.get_type::<PyBytes>(),
        py.get_type::<PyByteArray>(),
        py.get_type::<PyTuple>(),
        py.get_type::<PyList>(),
        py.get_type::<PyDict>(),
        py.get_type::<PySet>(),
        py.get_type::<PyFrozenSet>(),
    ]
    .iter()
    .any(|b| is(b).unwrap_or(false))
    {
        let collections = py.import(intern!(py, "collections"))?;
        let of =
            |name| -> PyResult<bool> { is(&collections.getattr(name)?.cast_into::<PyType>()?) };
        info.extra = if of(intern!(py, "OrderedDict"))? {
            Extra::OrderedDict
        } else if of(intern!(py, "defaultdict"))? {
            Extra::DefaultDict
        } else {
            Extra::Subclass
        };
        Kind::Subclass
    } else if defines_pickling(tp)?
        && !is(SIMPLE_NAMESPACE.import(py, "types", "SimpleNamespace")?)?
    {
        Kind::Pickle
    } else {
        Kind::Attributes
    };
    Ok(info)
}

/// The public slot names of a class along its MRO (private names mangled as Python does, then
/// dropped like every name starting with `_`), without `__dict__` and `__weakref__`.
fn public_slots(tp: &Bound<'_, PyType>) -> PyResult<Vec<Py<PyString>>> {
    let py = tp.py();
    let mut names: Vec<String> = Vec::new();
    for cls in tp.getattr(intern!(py, "__mro__"))?.try_iter()? {
        let cls = cls?;
        let own = cls.getattr(intern!(py, "__dict__"))?;
        let Some(slots) = own
            .call_method1(intern!(py, "get"), (intern!(py, "__slots__"),))
            .ok()
            .filter(|s| !s.is_none())
        else {
            continue;
        };
        let listed: Vec<Bound<'_, PyAny>> = if slots.is_instance_of::<PyString>() {
            vec![slots]
        } else {
            match slots.try_iter() {
                Ok(it) => it.collect::<PyResult<_>>()?,
                Err(_) => continue,
            }
        };
        for name in listed {
            let Ok(name) = name.extract::<String>() else {
                continue;
            };
            // `__x` is stored as `_Class__x`: private either way.
            if name.starts_with('_') || names.contains(&name) {
                continue;
            }
            names.push(name);
        }
    }
    names.sort();
    Ok(names
        .into_iter()
        .map(|n| PyString::new(py, &n).unbind())
        .collect())
}

/// Whether a class defines its own pickling (`__reduce_ex__`, `__reduce__` or `__getstate__`
/// other than `object`'s).
fn defines_pickling(tp: &Bound<'_, PyType>) -> PyResult<bool> {
    let py = tp.py();
    let object = py.get_type::<PyAny>();
    for name in [
        intern!(py, "__reduce_ex__"),
        intern!(py, "__reduce__"),
        intern!(py, "__getstate__"),
    ] {
        let base = object.getattr(name)?;
        match tp.getattr_opt(name)? {
            Some(own) if !own.is(&base) => return Ok(true),
            _ => {}
        }
    }
    Ok(false)
}
