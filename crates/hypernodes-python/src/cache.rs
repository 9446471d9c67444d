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

/// Keeps node results in a directory on local disk (no server): an embedded SQLite index plus
/// content-addressed files for large values. Safe with several processes reading and writing at
/// once and with processes killed at any moment; corrupt or foreign entries are recomputed.
#[pyclass(name = "DiskCache", module = "hypernodes", frozen)]
pub struct PyDiskCache {
    pub inner: Arc<DiskCache>,
}

fn secret_arg(secret: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    let Some(s) = secret.filter(|s| !s.is_none()) else {
        return Ok(None);
    };
    let bytes = if let Ok(text) = s.cast::<pyo3::types::PyString>() {
        text.to_str()?.as_bytes().to_vec()
    } else if let Ok(b) = s.cast::<pyo3::types::PyBytes>() {
        b.as_bytes().to_vec()
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "DiskCache secret= must be str or bytes, not {}",
            s.get_type().name()?
        )));
    };
    if bytes.is_empty() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "DiskCache secret= must not be empty",
        ));
    }
    Ok(Some(bytes))
}

fn size_limit_arg(limit: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    let Some(l) = limit.filter(|l| !l.is_none()) else {
        return Ok(None);
    };
    if l.is_instance_of::<pyo3::types::PyBool>() || !l.is_instance_of::<pyo3::types::PyInt>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "DiskCache size_limit= must be an int (bytes) or None, not {}",
            l.get_type().name()?
        )));
    }
    match l.extract::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "DiskCache size_limit= must be a positive number of bytes, got {l}"
        ))),
    }
}

fn cache_err(e: String) -> PyErr {
    pyo3::exceptions::PyOSError::new_err(e)
}

#[pymethods]
impl PyDiskCache {
    #[new]
    #[pyo3(signature = (path, size_limit=None, secret=None))]
    fn new(
        path: std::path::PathBuf,
        size_limit: Option<&Bound<'_, PyAny>>,
        secret: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let size_limit = size_limit_arg(size_limit)?;
        let secret = secret_arg(secret)?;
        let mut cache = DiskCache::new(path);
        if let Some(n) = size_limit {
            cache = cache.with_size_limit(n);
        }
        if let Some(s) = &secret {
            cache = cache.with_secret(s);
        }
        cache
            .check_trust()
            .map_err(pyo3::exceptions::PyPermissionError::new_err)?;
        Ok(PyDiskCache {
            inner: Arc::new(cache),
        })
    }

    /// The cache directory (absolute).
    #[getter]
    fn path(&self) -> std::path::PathBuf {
        self.inner.path().to_path_buf()
    }

    /// The size limit in bytes, or None.
    #[getter]
    fn size_limit(&self) -> Option<u64> {
        self.inner.size_limit()
    }

    /// The number of entries in the cache (all processes).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let inner = self.inner.clone();
        let n = py.detach(move || inner.len()).map_err(cache_err)?;
        Ok(n as usize)
    }

    /// Removes every entry; returns how many there were.
    fn clear(&self, py: Python<'_>) -> PyResult<u64> {
        let inner = self.inner.clone();
        py.detach(move || inner.clear()).map_err(cache_err)
    }

    /// `{"entries", "bytes", "hits", "misses"}`: the cache's entries and payload bytes, and the
    /// lookups this object answered (hits) or not (misses).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let inner = self.inner.clone();
        let s = py.detach(move || inner.stats()).map_err(cache_err)?;
        let d = pyo3::types::PyDict::new(py);
        d.set_item("entries", s.entries)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("hits", s.hits)?;
        d.set_item("misses", s.misses)?;
        Ok(d)
    }

    /// Removes the entries not used for `older_than` (seconds or a `datetime.timedelta`), and
    /// files left by killed writers. Returns `{"entries": n, "files": m}` removed.
    fn prune<'py>(
        &self,
        py: Python<'py>,
        older_than: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let seconds: f64 =
            match older_than.cast::<pyo3::types::PyDelta>() {
                Ok(d) => d.call_method0("total_seconds")?.extract()?,
                Err(_) if older_than.is_instance_of::<pyo3::types::PyBool>() => -1.0,
                Err(_) => older_than.extract().map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err(format!(
                    "DiskCache.prune(older_than=) takes seconds or a datetime.timedelta, not {}",
                    older_than.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                ))
                })?,
            };
        if !(seconds.is_finite() && seconds >= 0.0) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "DiskCache.prune(older_than=) must be a non-negative duration, got {older_than}"
            )));
        }
        let inner = self.inner.clone();
        let r = py
            .detach(move || inner.prune(std::time::Duration::from_secs_f64(seconds)))
            .map_err(cache_err)?;
        let d = pyo3::types::PyDict::new(py);
        d.set_item("entries", r.entries)?;
        d.set_item("files", r.files)?;
        Ok(d)
    }

    /// Commits this object's pending writes now (runs and maps do it before they return).
    fn flush(&self, py: Python<'_>) {
        let inner = self.inner.clone();
        py.detach(move || inner.flush());
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let secret = self
            .inner
            .secret()
            .map(|s| pyo3::types::PyBytes::new(py, s));
        let args = (self.path(), self.size_limit(), secret).into_pyobject(py)?;
        Ok((py.get_type::<PyDiskCache>().into_any(), args))
    }

    fn __repr__(&self) -> String {
        let mut out = format!("DiskCache({:?}", self.inner.path());
        if let Some(n) = self.inner.size_limit() {
            out += &format!(", size_limit={n}");
        }
        if self.inner.secret().is_some() {
            out += ", secret=...";
        }
        out + ")"
    }
}

/// Commits the pending writes of every disk cache in this process and empties the write-ahead
/// logs it wrote to; with `exiting` (registered with `atexit`), also writes each cache's hot file.
#[pyfunction]
#[pyo3(signature = (exiting=false))]
pub fn _flush_disk_caches(py: Python<'_>, exiting: bool) {
    py.detach(|| hypernodes::for_binding::flush_all_at_exit(exiting));
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
