//! Encoding Python values for the disk cache (the format is `hypernodes._store`'s): built into one
//! buffer with a single copy of each part, and decoded from an owned buffer that large values
//! (numpy arrays) keep as their memory, without a copy.

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyComplex, PyFloat, PyFrozenSet, PyInt, PyString, PyTuple,
};

/// `hypernodes._store.dumps_parts` or `.loads`, looked up once (they run on every write and read).
fn store_fn<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static DUMPS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    static LOADS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let cell = if name == "dumps_parts" {
        &DUMPS
    } else {
        &LOADS
    };
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(crate::py_modules::store(py)?.getattr(name)?.unbind())
    })
    .map(|f| f.bind(py).clone())
}

/// The encoding of `obj`, its parts (header, pickle, out-of-band buffers) copied once into one
/// vector, with room left for the cache's length footer.
pub fn encode(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = obj.py();
    let parts = store_fn(py, "dumps_parts")?.call1((obj,))?;
    let buffers: Vec<PyBuffer<u8>> = parts
        .try_iter()?
        .map(|p| PyBuffer::<u8>::get(&p?))
        .collect::<PyResult<_>>()?;
    let total: usize = buffers.iter().map(|b| b.len_bytes()).sum();
    let mut out = Vec::with_capacity(total + 64);
    for b in &buffers {
        if !b.is_c_contiguous() {
            return Err(pyo3::exceptions::PyBufferError::new_err(
                "a pickled buffer is not contiguous",
            ));
        }
        // SAFETY: a C-contiguous buffer of `len_bytes` bytes, kept alive (and the interpreter
        // lock held) for the duration of the copy.
        let bytes = unsafe { std::slice::from_raw_parts(b.buf_ptr() as *const u8, b.len_bytes()) };
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

/// Writes the encoding of `obj` to `out`, each part (header, pickle, out-of-band buffers) once.
/// `Err(None)`: the writer failed (its own error says why); `Err(Some(e))`: `obj` cannot be pickled.
pub fn encode_into(
    obj: &Bound<'_, PyAny>,
    out: &mut dyn std::io::Write,
) -> Result<(), Option<PyErr>> {
    let py = obj.py();
    let parts = store_fn(py, "dumps_parts")
        .and_then(|f| f.call1((obj,)))
        .map_err(Some)?;
    let parts: Vec<Bound<'_, PyAny>> = parts
        .try_iter()
        .and_then(|it| it.collect::<PyResult<_>>())
        .map_err(Some)?;
    for p in parts {
        let b = PyBuffer::<u8>::get(&p).map_err(Some)?;
        if !b.is_c_contiguous() {
            return Err(Some(pyo3::exceptions::PyBufferError::new_err(
                "a pickled buffer is not contiguous",
            )));
        }
        // SAFETY: as in `encode`.
        let bytes = unsafe { std::slice::from_raw_parts(b.buf_ptr() as *const u8, b.len_bytes()) };
        out.write_all(bytes).map_err(|_| None)?;
    }
    Ok(())
}

/// Decodes bytes made by [`encode`] (copied into a `bytearray`, which the arrays may keep). A
/// plain pickle (`0x00` + pickle: no out-of-band buffers) goes straight to `pickle.loads`, as
/// `_store.loads` would send it.
pub fn decode<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    if let [0, pickle @ ..] = bytes {
        static PICKLE_LOADS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
        let loads = PICKLE_LOADS.get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("pickle")?.getattr("loads")?.unbind())
        })?;
        return loads.bind(py).call1((PyBytes::new(py, pickle),));
    }
    store_fn(py, "loads")?.call1((PyByteArray::new(py, bytes),))
}

/// Decodes bytes made by [`encode`], handing them to pickle without a copy: large buffers become
/// writable slices of them.
pub fn decode_owned(py: Python<'_>, bytes: Vec<u8>) -> PyResult<Bound<'_, PyAny>> {
    let owner = Bound::new(py, OwnedBytes { data: bytes })?;
    store_fn(py, "loads")?.call1((owner,))
}

/// Whether `obj` cannot be changed in place: None, a bool, int, float, complex, str or bytes (of
/// exactly those types), or a tuple or frozenset of such values.
pub fn shareable(obj: &Bound<'_, PyAny>) -> bool {
    fn walk(o: &Bound<'_, PyAny>, depth: u32) -> bool {
        if o.is_none()
            || o.is_exact_instance_of::<PyBool>()
            || o.is_exact_instance_of::<PyInt>()
            || o.is_exact_instance_of::<PyFloat>()
            || o.is_exact_instance_of::<PyString>()
            || o.is_exact_instance_of::<PyBytes>()
            || o.is_exact_instance_of::<PyComplex>()
        {
            return true;
        }
        if depth == 0 {
            return false;
        }
        if let Ok(t) = o.cast_exact::<PyTuple>() {
            return t.iter().all(|i| walk(&i, depth - 1));
        }
        if let Ok(s) = o.cast_exact::<PyFrozenSet>() {
            return s.iter().all(|i| walk(&i, depth - 1));
        }
        false
    }
    walk(obj, 8)
}

/// Bytes read from the cache, lent to Python as a writable buffer (the arrays decoded from them
/// keep this object, and so the bytes, alive).
#[pyclass(module = "hypernodes._core")]
struct OwnedBytes {
    data: Vec<u8>,
}

#[pymethods]
impl OwnedBytes {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let (ptr, len) = {
            let mut me = slf.borrow_mut();
            (me.data.as_mut_ptr(), me.data.len())
        };
        // SAFETY: `view` comes from the interpreter; the data never moves or changes size while
        // the object lives, and the view holds a reference to the object.
        let rc = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                ptr.cast(),
                len as pyo3::ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        if rc == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {}
}
