//! Python objects as engine values: stored untouched (identity kept), split and collected as lists.

use std::any::TypeId;
use std::sync::Arc;

use hypernodes::{Value, ValueType};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PySequence, PyString, PyTuple};

/// Wraps a Python object as an engine value (no copy, no conversion).
pub fn to_value(obj: Bound<'_, PyAny>) -> Value {
    Arc::new(obj.unbind())
}

/// The Python object inside an engine value.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> Bound<'py, PyAny> {
    match v.downcast_ref::<Py<PyAny>>() {
        Some(obj) => obj.bind(py).clone(),
        None => match v.downcast_ref::<Vec<Value>>() {
            Some(items) => PyList::new(py, items.iter().map(|i| to_py(py, i)))
                .expect("building a list cannot fail")
                .into_any(),
            None => py.None().into_bound(py),
        },
    }
}

/// The port type of every Python node: any object; lists are Python sequences.
pub struct PyAnyType;

impl PyAnyType {
    /// The shared descriptor.
    pub fn arc() -> Arc<dyn ValueType> {
        Arc::new(PyAnyType)
    }
}

/// Splits a Python sequence into its items; str, bytes and dict are not lists of items.
pub fn split_sequence(obj: &Bound<'_, PyAny>) -> Result<Vec<Value>, String> {
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(l.iter().map(to_value).collect());
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(t.iter().map(to_value).collect());
    }
    let tname = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyDict>()
    {
        return Err(format!(
            "got a {tname}; pass a list, tuple or other sequence of items"
        ));
    }
    let seq = obj
        .cast::<PySequence>()
        .map_err(|_| format!("got a {tname}, which is not a sequence"))?;
    let n = seq.len().map_err(|e| e.to_string())?;
    (0..n)
        .map(|i| seq.get_item(i).map(to_value).map_err(|e| e.to_string()))
        .collect()
}

impl ValueType for PyAnyType {
    fn type_id(&self) -> Option<TypeId> {
        None
    }
    fn type_name(&self) -> &str {
        "object"
    }
    fn split(&self, list: &Value) -> Result<Vec<Value>, String> {
        Python::attach(|py| split_sequence(&to_py(py, list)))
    }
    fn collect(&self, items: Vec<Value>) -> Value {
        Python::attach(|py| {
            let list = PyList::new(py, items.iter().map(|v| to_py(py, v)))
                .expect("building a list cannot fail");
            to_value(list.into_any())
        })
    }
    fn list_type(&self) -> Arc<dyn ValueType> {
        PyAnyType::arc()
    }
    fn list_len(&self, list: &Value) -> Result<usize, String> {
        // only lists and tuples are counted and sliced as they are; any other sequence is split
        Python::attach(|py| {
            let obj = to_py(py, list);
            if let Ok(l) = obj.cast::<PyList>() {
                return Ok(l.len());
            }
            if let Ok(t) = obj.cast::<PyTuple>() {
                return Ok(t.len());
            }
            Err("not a list or tuple".to_string())
        })
    }
    fn slice(&self, list: &Value, start: usize, end: usize) -> Result<Value, String> {
        Python::attach(|py| {
            let obj = to_py(py, list);
            if let Ok(l) = obj.cast::<PyList>() {
                return Ok(to_value(l.get_slice(start, end).into_any()));
            }
            if let Ok(t) = obj.cast::<PyTuple>() {
                // a batch receives lists, whatever the mapped sequence was
                let items = t.get_slice(start, end);
                return PyList::new(py, items.iter())
                    .map(|l| to_value(l.into_any()))
                    .map_err(|e| e.to_string());
            }
            let items = split_sequence(&obj)?;
            let part = items.get(start..end).ok_or("a slice past the end")?;
            Ok(self.collect(part.to_vec()))
        })
    }
    fn hash(&self, v: &Value) -> Result<[u8; 32], String> {
        Python::attach(|py| crate::hashing::hash_obj(&to_py(py, v)).map_err(|e| e.to_string()))
    }
    fn encode(&self, v: &Value) -> Result<Vec<u8>, String> {
        Python::attach(|py| crate::store::encode(&to_py(py, v))).map_err(|e| {
            let tname = Python::attach(|py| {
                to_py(py, v)
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            });
            format!("a value of type {tname} cannot be pickled ({e})")
        })
    }
    fn encode_into(&self, v: &Value, out: &mut dyn std::io::Write) -> Result<(), String> {
        Python::attach(|py| {
            let obj = to_py(py, v);
            crate::store::encode_into(&obj, out).map_err(|e| match e {
                None => "the cache could not write it".to_string(),
                Some(e) => {
                    let tname = obj
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default();
                    format!("a value of type {tname} cannot be pickled ({e})")
                }
            })
        })
    }
    fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        Python::attach(|py| crate::store::decode(py, bytes).map(to_value))
            .map_err(|e| e.to_string())
    }
    fn decode_owned(&self, bytes: Vec<u8>) -> Result<Value, String> {
        Python::attach(|py| crate::store::decode_owned(py, bytes).map(to_value))
            .map_err(|e| e.to_string())
    }
    fn shareable(&self, v: &Value) -> bool {
        Python::attach(|py| crate::store::shareable(&to_py(py, v)))
    }
}
