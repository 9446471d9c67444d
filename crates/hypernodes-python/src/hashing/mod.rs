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
//! | `x` | instance of a subclass of one of the above: class + the base value's encoding (an    |
//! |     | `OrderedDict` in order, tag `o`) + a `defaultdict`'s `default_factory` + the         |
//! |     | instance's public attributes and slots                                             |
//! | `K` | object with `__cache_key__()`: class + the encoding of what it returns          |
//! | `D` | dataclass instance: class + fields in declaration order (name, value)          |
//! | `P` | pydantic v2 model: class + `model_fields` in order (name, value) + sorted extras |
//! | `A` | numpy array: dtype + shape + C-order bytes; `a`: object array (items by value); |
//! |     | a subclass (matrix, recarray, masked array) is `x` + class + the array + (masked  |
//! |     | arrays) the full mask and the fill value + public attributes                     |
//! | `n` | numpy scalar: dtype + bytes                                                    |
//! | `u` | enum member: class + member name                                               |
//! | `q` | class `T`, function `F`, builtin `B`, bound method `M`, module `m`: by name    |
//! | `z` | functools.partial: function + args + keywords                                  |
//! | `O` | other object with `__dict__`: class + public attributes sorted by name + public  |
//! |     | slots                                                                          |
//! | `r` | anything else: what pickling reduces it to (`copyreg.dispatch_table` or        |
//! |     | `__reduce_ex__(4)`: callable, args, state, list items, dict items), walked as    |
//! |     | values; `g` when it reduces to a global name                                   |
//!
//! A class is written as its `__module__` and `__qualname__`. Objects whose class defines its own
//! pickling (`__reduce__`, `__reduce_ex__` or `__getstate__`: pandas and polars frames, for
//! instance) are keyed by their reduced state rather than by public attributes, since their state
//! lives in private attributes (`types.SimpleNamespace` excepted); so are objects with slots and no
//! `__dict__`. The pickle bytes themselves never enter a key: the order of a set in them changes
//! with `PYTHONHASHSEED`. How a class's instances are hashed is decided on its first hash and
//! remembered; each hash checks once per class that it has not gained or lost `__cache_key__`.
//! Nesting deeper than [`MAX_DEPTH`] (a reference cycle) is a `TypeError`, and so is a value that
//! nothing above covers and that does not pickle.
//!
//! BLAKE3 comes from the `blake3` crate (buffers of 1 MB or more hashed on all cores with rayon).

use std::os::raw::c_int;

mod classify;

use classify::{type_info, Extra, Kind, TypeInfo, NUMPY};
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
        checked: Vec::new(),
    };
    enc.encode(obj, 0)?;
    Ok(digest_bytes(obj.py(), &enc.buf))
}

/// Appends the canonical encoding of `obj` (what [`hash_obj`] digests; self-delimiting) to `out`,
/// for callers that digest several values together.
pub fn encode_into(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    let mut enc = Encoder {
        py: obj.py(),
        buf: std::mem::take(out),
        spare: Vec::new(),
        checked: Vec::new(),
    };
    let r = enc.encode(obj, 0);
    *out = enc.buf;
    r
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
        // big buffers: hashed on all cores, without the interpreter lock
        py.detach(|| {
            *blake3::Hasher::new()
                .update_rayon(data)
                .finalize()
                .as_bytes()
        })
    } else {
        *blake3::hash(data).as_bytes()
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

/// Looked up once: `copyreg.dispatch_table`.
static DISPATCH_TABLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

struct Encoder<'py> {
    py: Python<'py>,
    buf: Vec<u8>,
    /// Emptied buffers kept for the digests of dict entries and set elements.
    spare: Vec<Vec<u8>>,
    /// Classes whose remembered classification this hash has confirmed (see [`type_info`]).
    checked: Vec<usize>,
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
        let info = type_info(&tp, &mut self.checked)?;
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
                if info.extra != Extra::None {
                    // A subclass (matrix, recarray, masked array, ...): its class, then what the
                    // subclass adds to the bytes.
                    self.buf.push(b'x');
                    self.buf.extend_from_slice(&info.name);
                }
                let contiguous = &NUMPY.get(py).expect("numpy is imported").2;
                self.put_array(obj, contiguous.bind(py), depth)?;
                if info.extra == Extra::Masked {
                    let ma = py.import(intern!(py, "numpy.ma"))?;
                    let mask = ma.call_method1(intern!(py, "getmaskarray"), (obj,))?;
                    self.put_array(&mask, contiguous.bind(py), depth)?;
                    self.encode(&obj.getattr(intern!(py, "fill_value"))?, depth + 1)?;
                }
                if info.extra != Extra::None {
                    self.put_instance_state(obj, &info, depth)?;
                }
                Ok(())
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
                if info.extra == Extra::OrderedDict {
                    // Order-sensitive, as OrderedDict's `==` is.
                    let d = obj.cast::<PyDict>()?;
                    let items: Vec<_> = d.iter().collect();
                    self.buf.push(b'o');
                    self.put_len(items.len());
                    for (k, v) in &items {
                        self.encode(k, depth + 1)?;
                        self.encode(v, depth + 1)?;
                    }
                } else if !self.encode_builtin(obj, depth)? {
                    self.buf.truncate(mark);
                    return self.put_reduced(obj, depth);
                }
                if info.extra == Extra::DefaultDict {
                    self.encode(&obj.getattr(intern!(py, "default_factory"))?, depth + 1)?;
                }
                self.put_instance_state(obj, &info, depth)
            }
            Kind::Attributes => match obj.getattr_opt(intern!(py, "__dict__"))? {
                Some(d) if d.is_instance_of::<PyDict>() => {
                    self.buf.push(b'O');
                    self.buf.extend_from_slice(&info.name);
                    self.put_instance_state(obj, &info, depth)
                }
                // Slots only, or no attributes at all: the state its pickling reduces it to.
                _ => self.put_reduced(obj, depth),
            },
            Kind::Pickle => self.put_reduced(obj, depth),
        }
    }

    /// An instance's own state beside its base value: its public `__dict__` attributes (sorted by
    /// name) and its public slots (in name order; an unset slot is marked as such).
    fn put_instance_state(
        &mut self,
        obj: &Bound<'py, PyAny>,
        info: &TypeInfo,
        depth: usize,
    ) -> PyResult<()> {
        let py = self.py;
        match obj.getattr_opt(intern!(py, "__dict__"))? {
            Some(d) if d.is_instance_of::<PyDict>() => {
                self.buf.push(1);
                self.put_sorted_attributes(d.cast::<PyDict>()?, true, depth)?;
            }
            _ => self.buf.push(0),
        }
        self.put_len(info.slots.len());
        for name in &info.slots {
            let name = name.bind(py);
            self.put_str(name)?;
            match obj.getattr_opt(name)? {
                Some(v) => {
                    self.buf.push(1);
                    self.encode(&v, depth + 1)?;
                }
                None => self.buf.push(0),
            }
        }
        Ok(())
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

    /// An object keyed through its pickling: what `copyreg.dispatch_table` or `__reduce_ex__(4)`
    /// reduces it to (the callable, its arguments, the state, list and dict items) walked as
    /// values, so the sets and dicts in its state are as canonical as anywhere else. Never the
    /// pickle bytes, whose order of set elements changes with `PYTHONHASHSEED`.
    fn put_reduced(&mut self, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        let py = self.py;
        let reduced = reduce(obj).map_err(|e| {
            let err = PyTypeError::new_err(format!(
                "cannot hash a value of type {} for a cache key: it has no __dict__, no \
                 __cache_key__() method and does not pickle ({e}); give its class a \
                 __cache_key__() method that returns a hashable description of the value",
                type_name(obj)
            ));
            err.set_cause(py, Some(e));
            err
        })?;
        if let Ok(name) = reduced.cast::<PyString>() {
            // A global, pickled by reference (a singleton): its class and name.
            self.buf.push(b'g');
            self.put_type(&obj.get_type())?;
            return self.put_str(name);
        }
        let parts = reduced.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err(format!(
                "cannot hash a value of type {} for a cache key: its __reduce_ex__() returned \
                 neither a str nor a tuple",
                type_name(obj)
            ))
        })?;
        self.buf.push(b'r');
        self.put_len(parts.len());
        for (i, part) in parts.iter().enumerate() {
            if part.is_none() {
                self.buf.push(b'N');
            } else if i == 3 {
                // list items: an iterator, in order
                let items = PyList::new(py, part.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
                self.buf.push(b'l');
                self.put_items(items.len(), items.iter(), depth + 1)?;
            } else if i == 4 {
                // dict items: an iterator of pairs, in any order
                let mut pairs = Vec::new();
                for pair in part.try_iter()? {
                    pairs.push(self.digest(&pair?, depth + 1)?);
                }
                pairs.sort_unstable();
                self.buf.push(b'e');
                self.put_len(pairs.len());
                for d in &pairs {
                    self.buf.extend_from_slice(d);
                }
            } else {
                self.encode(&part, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// What pickle reduces `obj` to: `copyreg.dispatch_table[type(obj)](obj)` when registered, else
/// `obj.__reduce_ex__(4)`.
fn reduce<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let table = DISPATCH_TABLE.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("copyreg")?.getattr("dispatch_table")?.unbind())
    })?;
    let table = table.bind(py).cast::<PyDict>()?;
    if let Some(f) = table.get_item(obj.get_type())? {
        return f.call1((obj,));
    }
    obj.call_method1(intern!(py, "__reduce_ex__"), (4,))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    let tp = obj.get_type();
    match (tp.module(), tp.qualname()) {
        (Ok(m), Ok(q)) => format!("{m}.{q}"),
        _ => "?".into(),
    }
}
