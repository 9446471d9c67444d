//! Canonical, type-tagged hashing of Python values, for cache keys (DESIGN.md, "Semantics that users
//! rely on"): equal values hash equal in every process and run, and no memory address, no salted
//! `hash()` and no dict or set iteration order ever reaches a digest.
//!
//! A value is written as a byte string in a self-delimiting, type-tagged encoding and that string is
//! hashed with BLAKE3. Each value starts with a one-byte tag, so `1`, `"1"`, `1.0`, `True`, `b"1"`,
//! `[1]` and `(1,)` never collide; lengths are u64 little-endian. Byte payloads (str, bytes, array
//! data) longer than [`INLINE_MAX`] enter as their own BLAKE3 digest, so big buffers are hashed once,
//! in place, without copying. Dict entries and set elements enter as digests sorted bytewise, so their
//! order does not matter.
//!
//! | tag | value                                                                          |
//! |-----|--------------------------------------------------------------------------------|
//! | `N` | None                                                                           |
//! | `b` | bool: one byte 0/1                                                             |
//! | `i` | int that fits in i64: 8 bytes                                                  |
//! | `I` | any other int: length + two's complement bytes (little-endian, shortest)       |
//! | `f` | float: the IEEE bits (every NaN as the canonical quiet NaN; -0.0 stays -0.0)   |
//! | `c` | complex: real and imaginary bits                                               |
//! | `s` | str: UTF-8 payload (lone surrogates pass through as in `surrogatepass`)        |
//! | `y` | bytes, `Y` bytearray, `m` memoryview (format + shape + C-order bytes)          |
//! | `l` | list, `t` tuple: count + items                                                 |
//! | `d` | dict: count + sorted (key digest, value digest) pairs                          |
//! | `e` | set, `E` frozenset: count + sorted element digests                             |
//! | `x` | instance of a subclass of one of the above: class + the base value's encoding  |
//! | `K` | object with `__cache_key__()`: class + the encoding of what it returns          |
//! | `D` | dataclass instance: class + fields in declaration order (name, value)          |
//! | `P` | pydantic v2 model: class + `model_fields` in order (name, value) + sorted extras |
//! | `A` | numpy array: dtype + shape + C-order bytes; `a`: object array (items by value) |
//! | `n` | numpy scalar: dtype + bytes                                                    |
//! | `u` | enum member: class + member name                                               |
//! | `q` | class `T`, function `F`, builtin `B`, bound method `M`, module `m`: by name    |
//! | `z` | functools.partial: function + args + keywords                                  |
//! | `O` | other object with `__dict__`: class + public attributes sorted by name         |
//! | `p` | anything else: its pickle (protocol 5)                                         |
//!
//! A class is written as its `__module__` and `__qualname__`. Objects whose class defines its own
//! pickling (`__reduce__`, `__reduce_ex__` or `__getstate__`: pandas and polars frames, for
//! instance) are hashed by their pickle rather than by public attributes, since their state lives in
//! private attributes (`types.SimpleNamespace` excepted). How a class's instances are hashed is
//! decided on its first hash and remembered. Nesting deeper than [`MAX_DEPTH`] (a reference cycle)
//! is a `TypeError`, and so is a value that nothing above covers and that does not pickle.
//!
//! BLAKE3 itself is the small [`b3`] module below (this crate does not depend on the `blake3`
//! crate); its digests are BLAKE3's, checked against the official test vectors, so moving to the
//! crate later changes no key.

use std::collections::HashMap;
use std::os::raw::c_int;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyComplex, PyDict, PyFloat, PyFrozenSet, PyInt, PyList,
    PyMemoryView, PyModule, PySet, PyString, PyTuple, PyType,
};

/// The deepest nesting hashed; deeper is taken to be a reference cycle.
pub const MAX_DEPTH: usize = 100;
/// Byte payloads up to this long are written inline; longer ones as their digest.
pub const INLINE_MAX: usize = 1024;
/// Buffers at least this long are hashed with the interpreter lock released.
const DETACH_MIN: usize = 1 << 20;

/// The canonical 32-byte BLAKE3 hash of a Python value (see the module documentation).
pub fn hash_obj(obj: &Bound<'_, PyAny>) -> PyResult<[u8; 32]> {
    let mut enc = Encoder {
        py: obj.py(),
        buf: Vec::with_capacity(64),
        spare: Vec::new(),
    };
    enc.encode(obj, 0)?;
    Ok(digest_bytes(obj.py(), &enc.buf))
}

/// `hash_value(obj) -> str`: the canonical, type-tagged hash of `obj` as 64 hex digits, the same in
/// every process and run. Dicts and sets hash independently of order; dataclasses, pydantic models
/// and plain objects by their fields (public attributes); numpy arrays by dtype, shape and bytes; an
/// object with a `__cache_key__()` method by what it returns. Raises TypeError for values it cannot
/// hash (reference cycles, unpicklable objects without `__dict__`).
#[pyfunction]
pub fn hash_value(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(to_hex(&hash_obj(obj)?))
}

fn to_hex(d: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// BLAKE3 of `data`, with the interpreter lock released when it is long.
fn digest_bytes(py: Python<'_>, data: &[u8]) -> [u8; 32] {
    if data.len() >= DETACH_MIN {
        py.detach(|| b3::hash(data))
    } else {
        b3::hash(data)
    }
}

/// A buffer exported by a Python object (PEP 3118), C-contiguous, released on drop. Only created
/// and dropped while attached to the interpreter.
struct CBuffer(Box<ffi::Py_buffer>);

impl CBuffer {
    fn get(obj: &Bound<'_, PyAny>) -> PyResult<CBuffer> {
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: `obj` is a live object and `view` a writable Py_buffer; on success the view holds
        // a reference to the exporter until PyBuffer_Release (in Drop).
        let rc = unsafe {
            ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, ffi::PyBUF_C_CONTIGUOUS as c_int)
        };
        if rc == -1 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(CBuffer(view))
    }

    fn bytes(&self) -> &[u8] {
        let len = self.0.len.max(0) as usize;
        if len == 0 || self.0.buf.is_null() {
            return &[];
        }
        // SAFETY: a C-contiguous buffer of `len` bytes starting at `buf`, kept alive (and, for
        // resizable exporters such as bytearray, kept from resizing) until release.
        unsafe { std::slice::from_raw_parts(self.0.buf as *const u8, len) }
    }
}

impl Drop for CBuffer {
    fn drop(&mut self) {
        // SAFETY: the view was filled by a successful PyObject_GetBuffer and is released once; the
        // encoder only drops buffers while attached to the interpreter.
        unsafe { ffi::PyBuffer_Release(&mut *self.0) }
    }
}

/// Python objects the encoder compares types against, looked up once.
static DATACLASS_FIELDS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PICKLE_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ENUM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static FUNCTION: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BUILTIN: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static METHOD: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PARTIAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SIMPLE_NAMESPACE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
/// `numpy.ndarray`, `numpy.generic` and `numpy.ascontiguousarray`.
type Numpy = (Py<PyType>, Py<PyType>, Py<PyAny>);
/// numpy's objects, once numpy has been imported.
static NUMPY: PyOnceLock<Numpy> = PyOnceLock::new();

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
enum Kind {
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
struct TypeInfo {
    kind: Kind,
    /// `__module__` and `__qualname__`, encoded.
    name: Vec<u8>,
    /// The fields of a dataclass or pydantic model, in declaration order.
    fields: Vec<Py<PyString>>,
}

/// Classes seen so far, by address. The class is held, so that its address is not reused while
/// it is here. A class changed after its first hash (a `__cache_key__` added later) keeps its
/// first classification.
type TypeCache = HashMap<usize, (Py<PyType>, Arc<TypeInfo>)>;
static TYPE_CACHE: Mutex<Option<TypeCache>> = Mutex::new(None);
/// Classes kept at most; the cache starts over when full (classes made in a loop, say).
const TYPE_CACHE_MAX: usize = 4096;

fn type_info(tp: &Bound<'_, PyType>) -> PyResult<Arc<TypeInfo>> {
    let key = tp.as_ptr() as usize;
    {
        let cache = TYPE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, info)) = cache.as_ref().and_then(|c| c.get(&key)) {
            return Ok(info.clone());
        }
    }
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
    };
    enc.put_type(tp)?;
    let mut info = TypeInfo {
        kind: Kind::Pickle,
        name: enc.buf,
        fields: Vec::new(),
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
    } else if numpy(py)?.is_some_and(|np| is(np.0.bind(py)).unwrap_or(false)) {
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

struct Encoder<'py> {
    py: Python<'py>,
    buf: Vec<u8>,
    /// Emptied buffers kept for the digests of dict entries and set elements.
    spare: Vec<Vec<u8>>,
}

impl<'py> Encoder<'py> {
    fn put_len(&mut self, n: usize) {
        self.buf.extend_from_slice(&(n as u64).to_le_bytes());
    }

    /// A length-prefixed byte payload: inline when short, else its digest.
    fn put_payload(&mut self, data: &[u8]) {
        self.put_len(data.len());
        if data.len() <= INLINE_MAX {
            self.buf.extend_from_slice(data);
        } else {
            let d = digest_bytes(self.py, data);
            self.buf.extend_from_slice(&d);
        }
    }

    /// A name (str-ish attribute such as `__module__`), written as a payload.
    fn put_name(&mut self, name: &Bound<'py, PyAny>) -> PyResult<()> {
        match name.cast::<PyString>() {
            Ok(s) => self.put_str(s),
            Err(_) => {
                let s = name.str()?;
                self.put_str(&s)
            }
        }
    }

    fn put_str(&mut self, s: &Bound<'py, PyString>) -> PyResult<()> {
        match s.to_str() {
            Ok(t) => self.put_payload(t.as_bytes()),
            Err(_) => {
                // Lone surrogates: not valid UTF-8, so their bytes cannot collide with a valid str.
                let b = s.call_method1(intern!(self.py, "encode"), ("utf-8", "surrogatepass"))?;
                self.put_payload(b.cast::<PyBytes>()?.as_bytes());
            }
        }
        Ok(())
    }

    /// A class: its `__module__` and `__qualname__`.
    fn put_type(&mut self, tp: &Bound<'py, PyType>) -> PyResult<()> {
        let py = self.py;
        let module = tp.getattr(intern!(py, "__module__"))?;
        self.put_name(&module)?;
        let qualname = tp.getattr(intern!(py, "__qualname__"))?;
        self.put_name(&qualname)
    }

    /// The `__module__` and `__qualname__` (or `__name__`) of a function-like object.
    fn put_qualified(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = self.py;
        let module = obj.getattr_opt(intern!(py, "__module__"))?;
        match module {
            Some(m) if !m.is_none() => self.put_name(&m)?,
            _ => self.put_payload(b""),
        }
        let name = match obj.getattr_opt(intern!(py, "__qualname__"))? {
            Some(q) => q,
            None => obj.getattr(intern!(py, "__name__"))?,
        };
        self.put_name(&name)
    }

    /// The digest of one value, encoded on its own (for order-independent collections).
    fn digest(&mut self, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<[u8; 32]> {
        let fresh = self.spare.pop().unwrap_or_default();
        let outer = std::mem::replace(&mut self.buf, fresh);
        let r = self.encode(obj, depth);
        let mut inner = std::mem::replace(&mut self.buf, outer);
        let d = r.map(|()| digest_bytes(self.py, &inner));
        inner.clear();
        self.spare.push(inner);
        d
    }

    fn encode(&mut self, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        if depth > MAX_DEPTH {
            return Err(PyTypeError::new_err(format!(
                "cannot hash a value of type {} for a cache key: it nests more than {MAX_DEPTH} \
                 levels deep (a reference cycle?)",
                type_name(obj)
            )));
        }
        // The common exact types first, by type pointer.
        if let Ok(s) = obj.cast_exact::<PyString>() {
            self.buf.push(b's');
            return self.put_str(s);
        }
        if let Ok(i) = obj.cast_exact::<PyInt>() {
            return self.put_int(i);
        }
        if let Ok(f) = obj.cast_exact::<PyFloat>() {
            self.buf.push(b'f');
            self.put_float(f.value());
            return Ok(());
        }
        if obj.is_none() {
            self.buf.push(b'N');
            return Ok(());
        }
        if let Ok(b) = obj.cast_exact::<PyBool>() {
            self.buf.push(b'b');
            self.buf.push(b.is_true() as u8);
            return Ok(());
        }
        if let Ok(b) = obj.cast_exact::<PyBytes>() {
            self.buf.push(b'y');
            self.put_payload(b.as_bytes());
            return Ok(());
        }
        if let Ok(t) = obj.cast_exact::<PyTuple>() {
            self.buf.push(b't');
            return self.put_items(t.len(), t.iter(), depth);
        }
        if let Ok(l) = obj.cast_exact::<PyList>() {
            self.buf.push(b'l');
            return self.put_items(l.len(), l.iter(), depth);
        }
        if let Ok(d) = obj.cast_exact::<PyDict>() {
            return self.put_dict(d, depth);
        }
        if obj.is_exact_instance_of::<PySet>() || obj.is_exact_instance_of::<PyFrozenSet>() {
            return self.put_set(obj, depth);
        }
        if obj.is_exact_instance_of::<PyByteArray>() || obj.is_exact_instance_of::<PyComplex>() {
            self.encode_builtin(obj, depth)?;
            return Ok(());
        }
        if obj.is_exact_instance_of::<PyMemoryView>() {
            let py = self.py;
            self.buf.push(b'm');
            self.put_name(&obj.getattr(intern!(py, "format"))?)?;
            self.encode(&obj.getattr(intern!(py, "shape"))?, depth + 1)?;
            return self.put_buffer(obj);
        }
        self.encode_object(obj, depth)
    }

    fn put_int(&mut self, i: &Bound<'py, PyInt>) -> PyResult<()> {
        if let Ok(v) = i.extract::<i64>() {
            self.buf.push(b'i');
            self.buf.extend_from_slice(&v.to_le_bytes());
            return Ok(());
        }
        let py = self.py;
        let bits: usize = i.call_method0(intern!(py, "bit_length"))?.extract()?;
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "signed"), true)?;
        let bytes = i.call_method(
            intern!(py, "to_bytes"),
            (bits / 8 + 1, intern!(py, "little")),
            Some(&kwargs),
        )?;
        self.buf.push(b'I');
        self.put_payload(bytes.cast::<PyBytes>()?.as_bytes());
        Ok(())
    }

    fn put_float(&mut self, v: f64) {
        let bits = if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        };
        self.buf.extend_from_slice(&bits.to_le_bytes());
    }

    fn put_items(
        &mut self,
        n: usize,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        depth: usize,
    ) -> PyResult<()> {
        self.put_len(n);
        let mut count = 0usize;
        for item in items {
            self.encode(&item, depth + 1)?;
            count += 1;
        }
        if count != n {
            return Err(PyTypeError::new_err(
                "cannot hash a sequence that changed size while it was being hashed",
            ));
        }
        Ok(())
    }

    fn put_dict(&mut self, d: &Bound<'py, PyDict>, depth: usize) -> PyResult<()> {
        // A snapshot first: hashing a big value may release the interpreter lock.
        let items: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> = d.iter().collect();
        let mut pairs = Vec::with_capacity(items.len());
        for (k, v) in &items {
            let mut pair = [0u8; 64];
            pair[..32].copy_from_slice(&self.digest(k, depth + 1)?);
            pair[32..].copy_from_slice(&self.digest(v, depth + 1)?);
            pairs.push(pair);
        }
        pairs.sort_unstable();
        self.buf.push(b'd');
        self.put_len(pairs.len());
        for p in &pairs {
            self.buf.extend_from_slice(p);
        }
        Ok(())
    }

    fn put_set(&mut self, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        let items: Vec<Bound<'py, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
        let mut digests = Vec::with_capacity(items.len());
        for item in &items {
            digests.push(self.digest(item, depth + 1)?);
        }
        digests.sort_unstable();
        self.buf.push(if obj.is_instance_of::<PyFrozenSet>() {
            b'E'
        } else {
            b'e'
        });
        self.put_len(digests.len());
        for d in &digests {
            self.buf.extend_from_slice(d);
        }
        Ok(())
    }

    /// Bytes-like objects by their C-order bytes (bytearray, memoryview).
    fn put_buffer(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<()> {
        match CBuffer::get(obj) {
            Ok(b) => self.put_payload(b.bytes()),
            Err(_) => {
                let bytes = obj.call_method0(intern!(self.py, "tobytes"))?;
                self.put_payload(bytes.cast::<PyBytes>()?.as_bytes());
            }
        }
        Ok(())
    }

    /// The value of an instance of a builtin type (or of a subclass of one), if it is one.
    fn encode_builtin(&mut self, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<bool> {
        if let Ok(s) = obj.cast::<PyString>() {
            self.buf.push(b's');
            self.put_str(s)?;
        } else if let Ok(i) = obj.cast::<PyInt>() {
            self.put_int(i)?;
        } else if let Ok(f) = obj.cast::<PyFloat>() {
            self.buf.push(b'f');
            self.put_float(f.value());
        } else if let Ok(c) = obj.cast::<PyComplex>() {
            self.buf.push(b'c');
            self.put_float(c.real());
            self.put_float(c.imag());
        } else if let Ok(b) = obj.cast::<PyBytes>() {
            self.buf.push(b'y');
            self.put_payload(b.as_bytes());
        } else if obj.is_instance_of::<PyByteArray>() {
            self.buf.push(b'Y');
            self.put_buffer(obj)?;
        } else if let Ok(t) = obj.cast::<PyTuple>() {
            self.buf.push(b't');
            self.put_items(t.len(), t.iter(), depth)?;
        } else if let Ok(l) = obj.cast::<PyList>() {
            self.buf.push(b'l');
            self.put_items(l.len(), l.iter(), depth)?;
        } else if let Ok(d) = obj.cast::<PyDict>() {
            self.put_dict(d, depth)?;
        } else if obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>() {
            self.put_set(obj, depth)?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    fn encode_object(&mut self, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        let py = self.py;
        // Classes, before anything looks for methods on them.
        if let Ok(t) = obj.cast::<PyType>() {
            self.buf.extend_from_slice(b"qT");
            return self.put_type(t);
        }
        let tp = obj.get_type();
        let info = type_info(&tp)?;
        match info.kind {
            Kind::CacheKey => {
                let key = obj.call_method0(intern!(py, "__cache_key__"))?;
                self.buf.push(b'K');
                self.buf.extend_from_slice(&info.name);
                self.encode(&key, depth + 1)
            }
            Kind::Dataclass | Kind::Pydantic => {
                let pydantic = info.kind == Kind::Pydantic;
                self.buf.push(if pydantic { b'P' } else { b'D' });
                self.buf.extend_from_slice(&info.name);
                self.put_len(info.fields.len());
                for name in &info.fields {
                    let name = name.bind(py);
                    self.put_str(name)?;
                    self.encode(&obj.getattr(name)?, depth + 1)?;
                }
                if pydantic {
                    self.put_pydantic_extra(obj, depth)?;
                }
                Ok(())
            }
            Kind::Array => {
                let contiguous = &NUMPY.get(py).expect("numpy is imported").2;
                self.put_array(obj, contiguous.bind(py), depth)
            }
            Kind::NumpyScalar => {
                self.buf.push(b'n');
                self.put_dtype(&obj.getattr(intern!(py, "dtype"))?)?;
                let bytes = obj.call_method0(intern!(py, "tobytes"))?;
                self.put_payload(bytes.cast::<PyBytes>()?.as_bytes());
                Ok(())
            }
            Kind::Enum => {
                self.buf.push(b'u');
                self.buf.extend_from_slice(&info.name);
                self.put_name(&obj.getattr(intern!(py, "_name_"))?)
            }
            Kind::Function => {
                self.buf.extend_from_slice(b"qF");
                self.put_qualified(obj)
            }
            Kind::Builtin => {
                self.buf.extend_from_slice(b"qB");
                self.put_qualified(obj)?;
                // A builtin method (`[].append`) is bound to its object, a builtin function to
                // its module.
                match obj.getattr_opt(intern!(py, "__self__"))? {
                    Some(s) if !s.is_none() && !s.is_instance_of::<PyModule>() => {
                        self.buf.push(1);
                        self.encode(&s, depth + 1)
                    }
                    _ => {
                        self.buf.push(0);
                        Ok(())
                    }
                }
            }
            Kind::Method => {
                self.buf.extend_from_slice(b"qM");
                self.encode(&obj.getattr(intern!(py, "__func__"))?, depth + 1)?;
                self.encode(&obj.getattr(intern!(py, "__self__"))?, depth + 1)
            }
            Kind::Module => {
                self.buf.extend_from_slice(b"qm");
                self.put_name(&obj.getattr(intern!(py, "__name__"))?)
            }
            Kind::Partial => {
                self.buf.push(b'z');
                self.encode(&obj.getattr(intern!(py, "func"))?, depth + 1)?;
                self.encode(&obj.getattr(intern!(py, "args"))?, depth + 1)?;
                self.encode(&obj.getattr(intern!(py, "keywords"))?, depth + 1)
            }
            Kind::Subclass => {
                // Subclasses of builtin types (namedtuples, OrderedDict, ...): the class, then the
                // builtin value.
                let mark = self.buf.len();
                self.buf.push(b'x');
                self.buf.extend_from_slice(&info.name);
                if self.encode_builtin(obj, depth)? {
                    return Ok(());
                }
                self.buf.truncate(mark);
                self.put_pickle(obj)
            }
            Kind::Attributes => match obj.getattr_opt(intern!(py, "__dict__"))? {
                Some(d) if d.is_instance_of::<PyDict>() => {
                    self.buf.push(b'O');
                    self.buf.extend_from_slice(&info.name);
                    self.put_sorted_attributes(d.cast::<PyDict>()?, true, depth)
                }
                _ => self.put_pickle(obj),
            },
            Kind::Pickle => self.put_pickle(obj),
        }
    }

    /// The extra fields of a pydantic model with `extra="allow"`, sorted by name.
    fn put_pydantic_extra(&mut self, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        let extra = obj.getattr_opt(intern!(self.py, "__pydantic_extra__"))?;
        match extra.as_ref().and_then(|e| e.cast::<PyDict>().ok()) {
            Some(e) if !e.is_empty() => {
                self.buf.push(1);
                self.put_sorted_attributes(e, false, depth)
            }
            _ => {
                self.buf.push(0);
                Ok(())
            }
        }
    }

    /// `(name, value)` pairs of a dict with str keys, sorted by name; only public names when
    /// `public_only`.
    fn put_sorted_attributes(
        &mut self,
        d: &Bound<'py, PyDict>,
        public_only: bool,
        depth: usize,
    ) -> PyResult<()> {
        let mut attrs: Vec<(String, Bound<'py, PyAny>)> = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let Ok(k) = k.cast::<PyString>() else {
                continue;
            };
            let name = k.to_cow()?.into_owned();
            if public_only && name.starts_with('_') {
                continue;
            }
            attrs.push((name, v));
        }
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        self.put_len(attrs.len());
        for (name, v) in &attrs {
            self.put_payload(name.as_bytes());
            self.encode(v, depth + 1)?;
        }
        Ok(())
    }

    fn put_dtype(&mut self, dtype: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = self.py;
        // `dtype.str` ('<f8', '<M8[ns]', ...) except for structured dtypes, whose `str` ('|V16')
        // loses the fields: those by their `descr`.
        let token = if dtype.getattr(intern!(py, "names"))?.is_none() {
            dtype.getattr(intern!(py, "str"))?
        } else {
            dtype.getattr(intern!(py, "descr"))?.str()?.into_any()
        };
        self.put_name(&token)
    }

    fn put_array(
        &mut self,
        arr: &Bound<'py, PyAny>,
        contiguous: &Bound<'py, PyAny>,
        depth: usize,
    ) -> PyResult<()> {
        let py = self.py;
        let dtype = arr.getattr(intern!(py, "dtype"))?;
        let shape = arr.getattr(intern!(py, "shape"))?;
        if dtype.getattr(intern!(py, "hasobject"))?.is_truthy()? {
            // The raw bytes are pointers: hash the items by value instead.
            self.buf.push(b'a');
            self.put_dtype(&dtype)?;
            self.encode(&shape, depth + 1)?;
            let flat = arr.call_method0(intern!(py, "ravel"))?;
            let items = flat.call_method0(intern!(py, "tolist"))?;
            return self.encode(&items, depth + 1);
        }
        self.buf.push(b'A');
        self.put_dtype(&dtype)?;
        self.encode(&shape, depth + 1)?;
        if let Ok(b) = CBuffer::get(arr) {
            self.put_payload(b.bytes());
            return Ok(());
        }
        let c = contiguous.call1((arr,))?;
        match CBuffer::get(&c) {
            Ok(b) => self.put_payload(b.bytes()),
            Err(_) => {
                // Dtypes that numpy does not export as buffers (datetime64, ...).
                let bytes = c.call_method0(intern!(py, "tobytes"))?;
                self.put_payload(bytes.cast::<PyBytes>()?.as_bytes());
            }
        }
        Ok(())
    }

    fn put_pickle(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = self.py;
        let dumps = PICKLE_DUMPS.get_or_try_init(py, || -> PyResult<_> {
            Ok(py.import("pickle")?.getattr("dumps")?.unbind())
        })?;
        let pickled = dumps.bind(py).call1((obj, 5)).map_err(|e| {
            let err = PyTypeError::new_err(format!(
                "cannot hash a value of type {} for a cache key: it has no __dict__, no \
                 __cache_key__() method and does not pickle ({e}); give its class a \
                 __cache_key__() method that returns a hashable description of the value",
                type_name(obj)
            ));
            err.set_cause(py, Some(e));
            err
        })?;
        self.buf.push(b'p');
        self.put_payload(pickled.cast::<PyBytes>()?.as_bytes());
        Ok(())
    }
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

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    let tp = obj.get_type();
    match (tp.module(), tp.qualname()) {
        (Ok(m), Ok(q)) => format!("{m}.{q}"),
        _ => "?".into(),
    }
}

mod b3 {
    //! A self-contained BLAKE3 (unkeyed, 32-byte output): the digests are those of the `blake3` crate.
    //! Large inputs hash 8 chunks at a time in SIMD lanes (AVX2 when the CPU has it) and split across
    //! threads, following BLAKE3's tree so that the result does not depend on how the work was split.

    const IV: [u32; 8] = [
        0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB,
        0x5BE0CD19,
    ];
    const CHUNK_LEN: usize = 1024;
    const BLOCK_LEN: usize = 64;
    const CHUNK_START: u32 = 1;
    const CHUNK_END: u32 = 2;
    const PARENT: u32 = 4;
    const ROOT: u32 = 8;
    /// Chunks hashed bottom-up in one batch (a power of two).
    const BATCH_CHUNKS: usize = 256;
    /// Inputs at least this long are split across threads.
    const PAR_MIN: usize = 4 << 20;

    /// The message word order of each of the 7 rounds.
    const SCHEDULE: [[usize; 16]; 7] = {
        const PERM: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
        let mut s = [[0usize; 16]; 7];
        let mut i = 0;
        while i < 16 {
            s[0][i] = i;
            i += 1;
        }
        let mut r = 1;
        while r < 7 {
            let mut i = 0;
            while i < 16 {
                s[r][i] = s[r - 1][PERM[i]];
                i += 1;
            }
            r += 1;
        }
        s
    };

    type Cv = [u32; 8];

    #[inline(always)]
    fn g(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize, x: u32, y: u32) {
        s[a] = s[a].wrapping_add(s[b]).wrapping_add(x);
        s[d] = (s[d] ^ s[a]).rotate_right(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_right(12);
        s[a] = s[a].wrapping_add(s[b]).wrapping_add(y);
        s[d] = (s[d] ^ s[a]).rotate_right(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_right(7);
    }

    #[inline(always)]
    fn round(s: &mut [u32; 16], m: &[u32; 16], r: usize) {
        let sc = &SCHEDULE[r];
        g(s, 0, 4, 8, 12, m[sc[0]], m[sc[1]]);
        g(s, 1, 5, 9, 13, m[sc[2]], m[sc[3]]);
        g(s, 2, 6, 10, 14, m[sc[4]], m[sc[5]]);
        g(s, 3, 7, 11, 15, m[sc[6]], m[sc[7]]);
        g(s, 0, 5, 10, 15, m[sc[8]], m[sc[9]]);
        g(s, 1, 6, 11, 12, m[sc[10]], m[sc[11]]);
        g(s, 2, 7, 8, 13, m[sc[12]], m[sc[13]]);
        g(s, 3, 4, 9, 14, m[sc[14]], m[sc[15]]);
    }

    /// One compression: the 16 words of output (the first 8 are the new chaining value).
    #[inline]
    pub(super) fn compress(
        cv: &Cv,
        m: &[u32; 16],
        counter: u64,
        block_len: u32,
        flags: u32,
    ) -> [u32; 16] {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of x86_64.
            unsafe { sse2::compress(cv, m, counter, block_len, flags) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        compress_portable(cv, m, counter, block_len, flags)
    }

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub(super) fn compress_portable(
        cv: &Cv,
        m: &[u32; 16],
        counter: u64,
        block_len: u32,
        flags: u32,
    ) -> [u32; 16] {
        let mut s = [
            cv[0],
            cv[1],
            cv[2],
            cv[3],
            cv[4],
            cv[5],
            cv[6],
            cv[7],
            IV[0],
            IV[1],
            IV[2],
            IV[3],
            counter as u32,
            (counter >> 32) as u32,
            block_len,
            flags,
        ];
        round(&mut s, m, 0);
        round(&mut s, m, 1);
        round(&mut s, m, 2);
        round(&mut s, m, 3);
        round(&mut s, m, 4);
        round(&mut s, m, 5);
        round(&mut s, m, 6);
        for i in 0..8 {
            s[i] ^= s[i + 8];
            s[i + 8] ^= cv[i];
        }
        s
    }

    fn first8(s: [u32; 16]) -> Cv {
        let mut cv = [0; 8];
        cv.copy_from_slice(&s[..8]);
        cv
    }

    /// The words of a block of at most 64 bytes, zero-padded.
    fn words(block: &[u8]) -> [u32; 16] {
        let mut padded = [0u8; BLOCK_LEN];
        padded[..block.len()].copy_from_slice(block);
        let mut m = [0u32; 16];
        for (w, b) in m.iter_mut().zip(padded.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        m
    }

    /// One chunk (at most 1024 bytes) up to its last block: the chaining value before that block, the
    /// block's words, its length and its flags; the caller compresses it (adding ROOT for a root).
    fn chunk_last(input: &[u8], counter: u64) -> (Cv, [u32; 16], u32, u32) {
        let nblocks = input.len().div_ceil(BLOCK_LEN).max(1);
        let mut cv = IV;
        for i in 0..nblocks - 1 {
            let flags = if i == 0 { CHUNK_START } else { 0 };
            let m = words(&input[i * BLOCK_LEN..(i + 1) * BLOCK_LEN]);
            cv = first8(compress(&cv, &m, counter, BLOCK_LEN as u32, flags));
        }
        let last = &input[(nblocks - 1) * BLOCK_LEN..];
        let flags = CHUNK_END | if nblocks == 1 { CHUNK_START } else { 0 };
        (cv, words(last), last.len() as u32, flags)
    }

    fn chunk_cv(input: &[u8], counter: u64) -> Cv {
        let (cv, m, len, flags) = chunk_last(input, counter);
        first8(compress(&cv, &m, counter, len, flags))
    }

    fn parent_words(l: &Cv, r: &Cv) -> [u32; 16] {
        let mut m = [0u32; 16];
        m[..8].copy_from_slice(l);
        m[8..].copy_from_slice(r);
        m
    }

    fn parent_cv(l: &Cv, r: &Cv) -> Cv {
        first8(compress(
            &IV,
            &parent_words(l, r),
            0,
            BLOCK_LEN as u32,
            PARENT,
        ))
    }

    /// The BLAKE3 hash of `input`.
    pub fn hash(input: &[u8]) -> [u8; 32] {
        hash_with_threads(input, threads())
    }

    /// The BLAKE3 hash of `input`, split across at most `threads` threads.
    pub fn hash_with_threads(input: &[u8], threads: usize) -> [u8; 32] {
        let out = if input.len() <= CHUNK_LEN {
            let (cv, m, len, flags) = chunk_last(input, 0);
            compress(&cv, &m, 0, len, flags | ROOT)
        } else {
            let (l, r) = children(input, 0, threads);
            compress(
                &IV,
                &parent_words(&l, &r),
                0,
                BLOCK_LEN as u32,
                PARENT | ROOT,
            )
        };
        let mut bytes = [0u8; 32];
        for (b, w) in bytes.chunks_exact_mut(4).zip(&out[..8]) {
            b.copy_from_slice(&w.to_le_bytes());
        }
        bytes
    }

    fn threads() -> usize {
        static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(16)))
    }

    /// The chaining values of the two children of a node over more than one chunk.
    fn children(input: &[u8], counter: u64, threads: usize) -> (Cv, Cv) {
        let full = (input.len() - 1) / CHUNK_LEN;
        let left_len = (1usize << (usize::BITS - 1 - full.leading_zeros())) * CHUNK_LEN;
        let (l, r) = input.split_at(left_len);
        let rc = counter + (left_len / CHUNK_LEN) as u64;
        if threads > 1 && input.len() >= PAR_MIN {
            let lt = threads / 2;
            let rt = threads - lt;
            let pair = std::thread::scope(|s| {
                let h = std::thread::Builder::new().spawn_scoped(s, || subtree(l, counter, lt));
                h.ok().map(|h| {
                    let b = subtree(r, rc, rt);
                    (h.join(), b)
                })
            });
            if let Some((Ok(a), b)) = pair {
                return (a, b);
            }
        }
        (subtree(l, counter, 1), subtree(r, rc, 1))
    }

    fn subtree(input: &[u8], counter: u64, threads: usize) -> Cv {
        let n = input.len();
        if n <= CHUNK_LEN {
            return chunk_cv(input, counter);
        }
        if n.is_multiple_of(CHUNK_LEN)
            && n <= BATCH_CHUNKS * CHUNK_LEN
            && (n / CHUNK_LEN).is_power_of_two()
        {
            return batch(input, counter);
        }
        let (l, r) = children(input, counter, threads);
        parent_cv(&l, &r)
    }

    /// The chaining value of a power-of-two number (at least 2) of whole chunks, bottom-up.
    fn batch(input: &[u8], counter: u64) -> Cv {
        let n = input.len() / CHUNK_LEN;
        let mut cvs = [[0u32; 8]; BATCH_CHUNKS];
        let mut i = 0;
        while i + 8 <= n {
            let lanes = &input[i * CHUNK_LEN..(i + 8) * CHUNK_LEN];
            let mut out = [[0u32; 8]; 8];
            hash8(
                lanes,
                CHUNK_LEN / BLOCK_LEN,
                counter + i as u64,
                true,
                0,
                CHUNK_START,
                CHUNK_END,
                &mut out,
            );
            cvs[i..i + 8].copy_from_slice(&out);
            i += 8;
        }
        while i < n {
            cvs[i] = chunk_cv(
                &input[i * CHUNK_LEN..(i + 1) * CHUNK_LEN],
                counter + i as u64,
            );
            i += 1;
        }
        let mut len = n;
        let mut blocks = [0u8; 8 * BLOCK_LEN];
        while len > 1 {
            let half = len / 2;
            let mut j = 0;
            while j + 8 <= half {
                for (p, blk) in blocks.chunks_exact_mut(BLOCK_LEN).enumerate() {
                    let m = parent_words(&cvs[2 * (j + p)], &cvs[2 * (j + p) + 1]);
                    for (b, w) in blk.chunks_exact_mut(4).zip(&m) {
                        b.copy_from_slice(&w.to_le_bytes());
                    }
                }
                let mut out = [[0u32; 8]; 8];
                hash8(&blocks, 1, 0, false, PARENT, 0, 0, &mut out);
                cvs[j..j + 8].copy_from_slice(&out);
                j += 8;
            }
            while j < half {
                cvs[j] = parent_cv(&cvs[2 * j], &cvs[2 * j + 1]);
                j += 1;
            }
            len = half;
        }
        cvs[0]
    }

    /// Hashes 8 inputs laid end to end in `input` (each `nblocks` blocks): lane `l` has counter
    /// `counter + l` when `inc`, else `counter`; every block has `flags`, the first also `start` and the
    /// last also `end`. Writes the 8 chaining values to `out`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hash8(
        input: &[u8],
        nblocks: usize,
        counter: u64,
        inc: bool,
        flags: u32,
        start: u32,
        end: u32,
        out: &mut [Cv; 8],
    ) {
        let stride = nblocks * BLOCK_LEN;
        assert_eq!(input.len(), 8 * stride);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above) and `input` holds 8 lanes of `nblocks`
            // blocks (asserted above).
            unsafe { avx2::hash8(input, nblocks, counter, inc, flags, start, end, out) };
            return;
        }
        hash8_portable(input, nblocks, counter, inc, flags, start, end, out)
    }

    /// `hash8` one lane after the other (CPUs without AVX2).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hash8_portable(
        input: &[u8],
        nblocks: usize,
        counter: u64,
        inc: bool,
        flags: u32,
        start: u32,
        end: u32,
        out: &mut [Cv; 8],
    ) {
        let stride = nblocks * BLOCK_LEN;
        for (l, cv) in out.iter_mut().enumerate() {
            let lane = &input[l * stride..(l + 1) * stride];
            let c = counter + if inc { l as u64 } else { 0 };
            let mut h = IV;
            for (b, blk) in lane.chunks_exact(BLOCK_LEN).enumerate() {
                let mut f = flags;
                if b == 0 {
                    f |= start;
                }
                if b == nblocks - 1 {
                    f |= end;
                }
                h = first8(compress(&h, &words(blk), c, BLOCK_LEN as u32, f));
            }
            *cv = h;
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod sse2 {
        //! One BLAKE3 compression with the state's four rows in SSE2 registers.
        use super::{Cv, IV, SCHEDULE};
        use std::arch::x86_64::*;

        #[inline(always)]
        unsafe fn rot16(x: __m128i) -> __m128i {
            _mm_shufflehi_epi16(_mm_shufflelo_epi16(x, 0xB1), 0xB1)
        }

        #[inline(always)]
        unsafe fn rot12(x: __m128i) -> __m128i {
            _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20))
        }

        #[inline(always)]
        unsafe fn rot8(x: __m128i) -> __m128i {
            _mm_or_si128(_mm_srli_epi32(x, 8), _mm_slli_epi32(x, 24))
        }

        #[inline(always)]
        unsafe fn rot7(x: __m128i) -> __m128i {
            _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25))
        }

        #[inline(always)]
        unsafe fn words(m: &[u32; 16], s: &[usize; 16], i: usize) -> __m128i {
            _mm_setr_epi32(
                m[s[i]] as i32,
                m[s[i + 2]] as i32,
                m[s[i + 4]] as i32,
                m[s[i + 6]] as i32,
            )
        }

        /// The four G functions of a step, one per lane.
        #[inline(always)]
        unsafe fn g(r: &mut [__m128i; 4], x: __m128i, y: __m128i) {
            r[0] = _mm_add_epi32(_mm_add_epi32(r[0], r[1]), x);
            r[3] = rot16(_mm_xor_si128(r[3], r[0]));
            r[2] = _mm_add_epi32(r[2], r[3]);
            r[1] = rot12(_mm_xor_si128(r[1], r[2]));
            r[0] = _mm_add_epi32(_mm_add_epi32(r[0], r[1]), y);
            r[3] = rot8(_mm_xor_si128(r[3], r[0]));
            r[2] = _mm_add_epi32(r[2], r[3]);
            r[1] = rot7(_mm_xor_si128(r[1], r[2]));
        }

        #[inline(always)]
        unsafe fn round(r: &mut [__m128i; 4], m: &[u32; 16], n: usize) {
            let s = &SCHEDULE[n];
            g(r, words(m, s, 0), words(m, s, 1));
            // Diagonals: lane i of row k takes word (i + k) % 4.
            r[1] = _mm_shuffle_epi32(r[1], 0x39);
            r[2] = _mm_shuffle_epi32(r[2], 0x4E);
            r[3] = _mm_shuffle_epi32(r[3], 0x93);
            g(r, words(m, s, 8), words(m, s, 9));
            r[1] = _mm_shuffle_epi32(r[1], 0x93);
            r[2] = _mm_shuffle_epi32(r[2], 0x4E);
            r[3] = _mm_shuffle_epi32(r[3], 0x39);
        }

        /// See `super::compress`.
        ///
        /// # Safety
        /// The CPU must have SSE2 (every x86_64 CPU does).
        #[inline]
        pub unsafe fn compress(
            cv: &Cv,
            m: &[u32; 16],
            counter: u64,
            block_len: u32,
            flags: u32,
        ) -> [u32; 16] {
            let cv0 = _mm_loadu_si128(cv.as_ptr().cast());
            let cv1 = _mm_loadu_si128(cv.as_ptr().add(4).cast());
            let mut r = [
                cv0,
                cv1,
                _mm_loadu_si128(IV.as_ptr().cast()),
                _mm_setr_epi32(
                    counter as i32,
                    (counter >> 32) as i32,
                    block_len as i32,
                    flags as i32,
                ),
            ];
            round(&mut r, m, 0);
            round(&mut r, m, 1);
            round(&mut r, m, 2);
            round(&mut r, m, 3);
            round(&mut r, m, 4);
            round(&mut r, m, 5);
            round(&mut r, m, 6);
            let mut out = [0u32; 16];
            let p = out.as_mut_ptr();
            _mm_storeu_si128(p.cast(), _mm_xor_si128(r[0], r[2]));
            _mm_storeu_si128(p.add(4).cast(), _mm_xor_si128(r[1], r[3]));
            _mm_storeu_si128(p.add(8).cast(), _mm_xor_si128(r[2], cv0));
            _mm_storeu_si128(p.add(12).cast(), _mm_xor_si128(r[3], cv1));
            out
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        //! Eight BLAKE3 compressions at once, one per 32-bit lane of AVX2 registers.
        use super::{Cv, BLOCK_LEN, IV, SCHEDULE};
        use std::arch::x86_64::*;

        #[inline(always)]
        unsafe fn add(a: __m256i, b: __m256i) -> __m256i {
            _mm256_add_epi32(a, b)
        }

        #[inline(always)]
        unsafe fn xor(a: __m256i, b: __m256i) -> __m256i {
            _mm256_xor_si256(a, b)
        }

        #[inline(always)]
        unsafe fn rot16(x: __m256i) -> __m256i {
            _mm256_shuffle_epi8(
                x,
                _mm256_set_epi8(
                    13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8, 11,
                    10, 5, 4, 7, 6, 1, 0, 3, 2,
                ),
            )
        }

        #[inline(always)]
        unsafe fn rot12(x: __m256i) -> __m256i {
            _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20))
        }

        #[inline(always)]
        unsafe fn rot8(x: __m256i) -> __m256i {
            _mm256_shuffle_epi8(
                x,
                _mm256_set_epi8(
                    12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14, 13, 8, 11,
                    10, 9, 4, 7, 6, 5, 0, 3, 2, 1,
                ),
            )
        }

        #[inline(always)]
        unsafe fn rot7(x: __m256i) -> __m256i {
            _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25))
        }

        /// Four G functions side by side: on columns (a, b, c, d) with message words x and y.
        macro_rules! g4 {
            ($v:ident, $m:ident, $s:ident, [$($a:literal $b:literal $c:literal $d:literal $x:literal $y:literal),*]) => {
                $( $v[$a] = add(add($v[$a], $v[$b]), $m[$s[$x]]); )*
                $( $v[$d] = rot16(xor($v[$d], $v[$a])); )*
                $( $v[$c] = add($v[$c], $v[$d]); )*
                $( $v[$b] = rot12(xor($v[$b], $v[$c])); )*
                $( $v[$a] = add(add($v[$a], $v[$b]), $m[$s[$y]]); )*
                $( $v[$d] = rot8(xor($v[$d], $v[$a])); )*
                $( $v[$c] = add($v[$c], $v[$d]); )*
                $( $v[$b] = rot7(xor($v[$b], $v[$c])); )*
            };
        }

        #[inline(always)]
        unsafe fn round(v: &mut [__m256i; 16], m: &[__m256i; 16], r: usize) {
            let s = &SCHEDULE[r];
            g4!(v, m, s, [0 4 8 12 0 1, 1 5 9 13 2 3, 2 6 10 14 4 5, 3 7 11 15 6 7]);
            g4!(v, m, s, [0 5 10 15 8 9, 1 6 11 12 10 11, 2 7 8 13 12 13, 3 4 9 14 14 15]);
        }

        /// Turns 8 vectors of 8 words (one per lane) into 8 vectors of one word across the lanes.
        #[inline(always)]
        unsafe fn transpose(x: &mut [__m256i; 8]) {
            let ab_0145 = _mm256_unpacklo_epi32(x[0], x[1]);
            let ab_2367 = _mm256_unpackhi_epi32(x[0], x[1]);
            let cd_0145 = _mm256_unpacklo_epi32(x[2], x[3]);
            let cd_2367 = _mm256_unpackhi_epi32(x[2], x[3]);
            let ef_0145 = _mm256_unpacklo_epi32(x[4], x[5]);
            let ef_2367 = _mm256_unpackhi_epi32(x[4], x[5]);
            let gh_0145 = _mm256_unpacklo_epi32(x[6], x[7]);
            let gh_2367 = _mm256_unpackhi_epi32(x[6], x[7]);
            let abcd_04 = _mm256_unpacklo_epi64(ab_0145, cd_0145);
            let abcd_15 = _mm256_unpackhi_epi64(ab_0145, cd_0145);
            let abcd_26 = _mm256_unpacklo_epi64(ab_2367, cd_2367);
            let abcd_37 = _mm256_unpackhi_epi64(ab_2367, cd_2367);
            let efgh_04 = _mm256_unpacklo_epi64(ef_0145, gh_0145);
            let efgh_15 = _mm256_unpackhi_epi64(ef_0145, gh_0145);
            let efgh_26 = _mm256_unpacklo_epi64(ef_2367, gh_2367);
            let efgh_37 = _mm256_unpackhi_epi64(ef_2367, gh_2367);
            x[0] = _mm256_permute2x128_si256(abcd_04, efgh_04, 0x20);
            x[1] = _mm256_permute2x128_si256(abcd_15, efgh_15, 0x20);
            x[2] = _mm256_permute2x128_si256(abcd_26, efgh_26, 0x20);
            x[3] = _mm256_permute2x128_si256(abcd_37, efgh_37, 0x20);
            x[4] = _mm256_permute2x128_si256(abcd_04, efgh_04, 0x31);
            x[5] = _mm256_permute2x128_si256(abcd_15, efgh_15, 0x31);
            x[6] = _mm256_permute2x128_si256(abcd_26, efgh_26, 0x31);
            x[7] = _mm256_permute2x128_si256(abcd_37, efgh_37, 0x31);
        }

        /// See `super::hash8`.
        ///
        /// # Safety
        /// The CPU must have AVX2, and `input` must hold 8 lanes of `nblocks` blocks.
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn hash8(
            input: &[u8],
            nblocks: usize,
            counter: u64,
            inc: bool,
            flags: u32,
            start: u32,
            end: u32,
            out: &mut [Cv; 8],
        ) {
            let stride = nblocks * BLOCK_LEN;
            let p = input.as_ptr();
            let mut h = [_mm256_setzero_si256(); 8];
            for (hw, iv) in h.iter_mut().zip(IV) {
                *hw = _mm256_set1_epi32(iv as i32);
            }
            let mut lo = [0i32; 8];
            let mut hi = [0i32; 8];
            for l in 0..8 {
                let c = counter + if inc { l as u64 } else { 0 };
                lo[l] = c as u32 as i32;
                hi[l] = (c >> 32) as u32 as i32;
            }
            let lo = _mm256_loadu_si256(lo.as_ptr().cast());
            let hi = _mm256_loadu_si256(hi.as_ptr().cast());
            for b in 0..nblocks {
                let mut m = [_mm256_setzero_si256(); 16];
                for half in 0..2 {
                    let mut x = [_mm256_setzero_si256(); 8];
                    for (l, xl) in x.iter_mut().enumerate() {
                        // SAFETY: lane `l`, block `b`, bytes 32*half..32*half+32 lie inside `input`.
                        *xl = _mm256_loadu_si256(
                            p.add(l * stride + b * BLOCK_LEN + 32 * half).cast(),
                        );
                    }
                    transpose(&mut x);
                    m[8 * half..8 * half + 8].copy_from_slice(&x);
                }
                let mut f = flags;
                if b == 0 {
                    f |= start;
                }
                if b == nblocks - 1 {
                    f |= end;
                }
                let mut v = [
                    h[0],
                    h[1],
                    h[2],
                    h[3],
                    h[4],
                    h[5],
                    h[6],
                    h[7],
                    _mm256_set1_epi32(IV[0] as i32),
                    _mm256_set1_epi32(IV[1] as i32),
                    _mm256_set1_epi32(IV[2] as i32),
                    _mm256_set1_epi32(IV[3] as i32),
                    lo,
                    hi,
                    _mm256_set1_epi32(BLOCK_LEN as i32),
                    _mm256_set1_epi32(f as i32),
                ];
                round(&mut v, &m, 0);
                round(&mut v, &m, 1);
                round(&mut v, &m, 2);
                round(&mut v, &m, 3);
                round(&mut v, &m, 4);
                round(&mut v, &m, 5);
                round(&mut v, &m, 6);
                for i in 0..8 {
                    h[i] = xor(v[i], v[i + 8]);
                }
            }
            transpose(&mut h);
            for (cv, hl) in out.iter_mut().zip(h) {
                _mm256_storeu_si256(cv.as_mut_ptr().cast(), hl);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::b3;

    /// BLAKE3's official test vectors (input byte i is i % 251), plus inputs large enough for the
    /// batched SIMD path and the threaded split.
    #[test]
    fn blake3_test_vectors() {
        let input: Vec<u8> = (0..(6usize << 20)).map(|i| (i % 251) as u8).collect();
        let cases = [
            (
                0usize,
                "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
            ),
            (
                1,
                "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
            ),
            (
                64,
                "4eed7141ea4a5cd4b788606bd23f46e212af9cacebacdc7d1f4c6dc7f2511b98",
            ),
            (
                1023,
                "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
            ),
            (
                1024,
                "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
            ),
            (
                1025,
                "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
            ),
            (
                8193,
                "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b",
            ),
            (
                102400,
                "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085",
            ),
            (
                262145,
                "531c319935cf78f34869faebd865e5748266b1799039103bfb851a680d9ed30c",
            ),
            (
                5242883,
                "d7b0c8bf65e5c4d83045f23509a2af505c29af408a404c3f363f75a7a49a5040",
            ),
        ];
        for (n, want) in cases {
            for threads in [1, 2, 3] {
                let got = super::to_hex(&b3::hash_with_threads(&input[..n], threads));
                assert_eq!(got, want, "length {n}, {threads} threads");
            }
        }
    }

    /// The SIMD paths (SSE2 compression, AVX2 lanes) agree with the portable ones.
    #[test]
    fn simd_paths_match_portable() {
        let input: Vec<u8> = (0..8 * 1024usize).map(|i| (i * 31 % 256) as u8).collect();
        for (nblocks, inc, flags, start, end) in [(16, true, 0, 1, 2), (1, false, 4, 0, 0)] {
            let lanes = &input[..8 * nblocks * 64];
            let mut a = [[0u32; 8]; 8];
            let mut b = [[0u32; 8]; 8];
            b3::hash8(lanes, nblocks, 1 << 33, inc, flags, start, end, &mut a);
            b3::hash8_portable(lanes, nblocks, 1 << 33, inc, flags, start, end, &mut b);
            assert_eq!(a, b);
        }
        let cv = [1, 2, 3, 4, 5, 6, 7, 8];
        let m: [u32; 16] = std::array::from_fn(|i| (i as u32).wrapping_mul(0x9E37_79B9));
        assert_eq!(
            b3::compress(&cv, &m, 0x1_0000_0005, 64, 11),
            b3::compress_portable(&cv, &m, 0x1_0000_0005, 64, 11)
        );
    }
}
