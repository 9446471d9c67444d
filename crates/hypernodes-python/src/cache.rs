//! `MemoryCache` and `DiskCache` for Python: thin wrappers over the engine's caches. They pickle as
//! configuration (a disk cache as its path, opened lazily where it is first used).

use std::sync::Arc;

use hypernodes::{Cache, DiskCache, MemoryCache};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Keeps node results in this process's memory.
#[pyclass(name = "MemoryCache", module = "hypernodes", frozen)]
pub struct PyMemoryCache {
    pub inner: Arc<MemoryCache>,
}

#[pymethods]
impl PyMemoryCache {
    #[new]
    fn new() -> Self {
        PyMemoryCache {
            inner: Arc::new(MemoryCache::new()),
        }
    }

    /// The number of entries.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Removes every entry.
    fn clear(&self) {
        self.inner.clear()
    }

    /// Every entry as `{key: [values]}` (used to ship the cache to worker processes).
    fn _export<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        for (k, vals) in self.inner.entries() {
            let vals =
                pyo3::types::PyList::new(py, vals.iter().map(|v| crate::values::to_py(py, v)))?;
            d.set_item(pyo3::types::PyBytes::new(py, &k), vals)?;
        }
        Ok(d)
    }

    /// Adds entries exported by `_export` (from worker processes); existing keys are kept.
    fn _merge(&self, entries: &Bound<'_, pyo3::types::PyDict>) -> PyResult<()> {
        let mut out = Vec::with_capacity(entries.len());
        for (k, vals) in entries.iter() {
            let key: [u8; 32] = k
                .extract::<Vec<u8>>()?
                .try_into()
                .map_err(|_| pyo3::exceptions::PyValueError::new_err("a cache key is 32 bytes"))?;
            let vals: Vec<_> = vals
                .try_iter()?
                .map(|v| v.map(crate::values::to_value))
                .collect::<PyResult<_>>()?;
            out.push((key, vals));
        }
        self.inner.extend(out);
        Ok(())
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        Ok((
            py.get_type::<PyMemoryCache>().into_any(),
            PyTuple::empty(py),
        ))
    }

    fn __repr__(&self) -> String {
        format!("MemoryCache(entries={})", self.inner.len())
    }
}

/// Keeps node results in a directory on local disk (no server). Safe with several processes
/// writing at once and with processes killed mid-write; corrupt entries are recomputed.
#[pyclass(name = "DiskCache", module = "hypernodes", frozen)]
pub struct PyDiskCache {
    pub inner: Arc<DiskCache>,
}

#[pymethods]
impl PyDiskCache {
    #[new]
    fn new(path: std::path::PathBuf) -> Self {
        PyDiskCache {
            inner: Arc::new(DiskCache::new(path)),
        }
    }

    /// The cache directory.
    #[getter]
    fn path(&self) -> std::path::PathBuf {
        self.inner.path().to_path_buf()
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let args = (self.path(),).into_pyobject(py)?;
        Ok((py.get_type::<PyDiskCache>().into_any(), args))
    }

    fn __repr__(&self) -> String {
        format!("DiskCache({:?})", self.inner.path())
    }
}

/// The engine cache for a Python cache object.
pub fn cache_arg(obj: &Bound<'_, PyAny>) -> PyResult<Arc<dyn Cache>> {
    if let Ok(c) = obj.cast::<PyMemoryCache>() {
        return Ok(c.get().inner.clone());
    }
    if let Ok(c) = obj.cast::<PyDiskCache>() {
        return Ok(c.get().inner.clone());
    }
    Err(crate::errors::config_error(format!(
        "cache must be a MemoryCache, a DiskCache, False or None; got {obj}"
    )))
}

/// The Python object for an engine cache.
pub fn cache_to_py(py: Python<'_>, cache: &Arc<dyn Cache>) -> PyResult<Py<PyAny>> {
    let any: Arc<dyn std::any::Any + Send + Sync> = cache.clone();
    if let Ok(m) = any.clone().downcast::<MemoryCache>() {
        return Ok(Py::new(py, PyMemoryCache { inner: m })?.into_any());
    }
    if let Ok(d) = any.downcast::<DiskCache>() {
        return Ok(Py::new(py, PyDiskCache { inner: d })?.into_any());
    }
    Ok(py.None())
}
