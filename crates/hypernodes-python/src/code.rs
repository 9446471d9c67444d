//! The code identity of a Python callable: one half of a node's cache key (docs/caching.md, "Code
//! identity"). It is derived from the code that runs, never from the source file on disk:
//!
//! - a function: its code object (bytecode, constants, names, argument counts, flags, exception
//!   table, nested code objects; not the file name, line numbers or column positions, so comments
//!   and layout do not count), its default values, and its closure values (a captured function,
//!   such as the one a decorator wraps, by its own identity);
//! - what it reaches through its globals, transitively (each object once, so cycles end): the
//!   user-defined functions and classes it names (a class by its bases and the functions,
//!   properties, static and class methods and simple constants in its namespace), the attributes it
//!   names of a user-defined module it imports (at module level or in its body, `IMPORT_NAME`), the
//!   class of a user-defined object it closes over, and global constants of simple types (scalars,
//!   and tuples and frozensets of them) by value;
//! - other callables: a `functools.partial` by its function and arguments, a bound method by its
//!   function, its object's value and its object's class, a callable object by its class, the
//!   function it wraps (`__wrapped__`: `functools.cache`, `lru_cache`) and its value, a builtin by
//!   name.
//!
//! Code is *user-defined* unless its module lives in the standard library or among installed
//! packages (see `is_user_module`); library code counts by name only. A global
//! that is neither followed nor a simple constant (an instance of a user-defined class, a big or
//! non-simple container) is named in a one-time warning. The digest is BLAKE3, the same in every
//! process and run for the same code under the same Python minor version.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyBytes, PyComplex, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyModule, PySet,
    PyString, PyTuple, PyType,
};

use crate::hashing::encode_into;

/// Elements of global containers hashed by value at most; bigger ones are not followed.
const SIMPLE_MAX: usize = 10_000;
/// How deep classes, closures and helpers are followed (a guard; the `visited` set ends cycles).
const MAX_DEPTH: usize = 64;

static FUNCTION: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CODE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static METHOD: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BUILTIN: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PARTIAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STATICMETHOD: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CLASSMETHOD: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PROPERTY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ENUM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
/// Whether a module (by name) is user code, decided once per module.
static USER_MODULES: Mutex<Option<HashMap<String, bool>>> = Mutex::new(None);

/// Looks up the types the walker compares against, once, when the extension module loads (so
/// that a process's first node does not pay for it).
pub fn init(py: Python<'_>) -> PyResult<()> {
    for (cell, module, name) in [
        (&FUNCTION, "types", "FunctionType"),
        (&CODE, "types", "CodeType"),
        (&METHOD, "types", "MethodType"),
        (&BUILTIN, "types", "BuiltinFunctionType"),
        (&PARTIAL, "functools", "partial"),
        (&STATICMETHOD, "builtins", "staticmethod"),
        (&CLASSMETHOD, "builtins", "classmethod"),
        (&PROPERTY, "builtins", "property"),
        (&ENUM, "enum", "Enum"),
    ] {
        ty(py, cell, module, name)?;
    }
    import_names(py, &[])?;
    Ok(())
}

/// `code_identity(func) -> bytes`: the code identity of `func` as 64 hex digits (ASCII bytes).
#[pyfunction]
pub fn code_identity(func: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let digest = identity(func)?;
    Ok(blake3::Hash::from_bytes(digest)
        .to_hex()
        .as_bytes()
        .to_vec())
}

/// The 32-byte code identity of a callable (see the module documentation).
pub fn identity(func: &Bound<'_, PyAny>) -> PyResult<[u8; 32]> {
    let mut w = Walker {
        py: func.py(),
        buf: Vec::with_capacity(512),
        visited: Vec::new(),
        reader: None,
    };
    w.callable(func, 0)?;
    Ok(*blake3::hash(&w.buf).as_bytes())
}

struct Walker<'py> {
    py: Python<'py>,
    buf: Vec<u8>,
    /// Objects already written in this walk (by address, held alive by the objects walked): a
    /// second meeting writes a reference instead, so cycles and shared helpers end.
    visited: Vec<usize>,
    /// The function whose globals are being read (named in warnings).
    reader: Option<Bound<'py, PyAny>>,
}

fn ty<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    module: &str,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, module, name)
}

impl<'py> Walker<'py> {
    /// A tagged, length-prefixed field.
    fn put(&mut self, tag: u8, data: &[u8]) {
        self.buf.push(tag);
        self.buf
            .extend_from_slice(&(data.len() as u64).to_le_bytes());
        self.buf.extend_from_slice(data);
    }

    fn put_str(&mut self, tag: u8, s: &Bound<'py, PyAny>) -> PyResult<()> {
        let s = s.str()?;
        let text = s.to_cow()?;
        self.put(tag, text.as_bytes());
        Ok(())
    }

    /// An object's `__module__` and `__qualname__` (or `__name__`).
    fn put_name(&mut self, tag: u8, obj: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = self.py;
        let module = obj.getattr_opt(intern!(py, "__module__"))?;
        let name = match obj.getattr_opt(intern!(py, "__qualname__"))? {
            Some(q) => Some(q),
            None => obj.getattr_opt(intern!(py, "__name__"))?,
        };
        let text = format!(
            "{}.{}",
            module.map(|m| m.to_string()).unwrap_or_default(),
            name.map(|n| n.to_string()).unwrap_or_default()
        );
        self.put(tag, text.as_bytes());
        Ok(())
    }

    /// A walked function's or class's `__qualname__`: not its module, so that moving code between
    /// modules keeps its identity (its content is walked anyway).
    fn put_qualname(&mut self, tag: u8, obj: &Bound<'py, PyAny>) -> PyResult<()> {
        match obj.getattr_opt(intern!(self.py, "__qualname__"))? {
            Some(q) => self.put_str(tag, &q),
            None => {
                self.put(tag, b"");
                Ok(())
            }
        }
    }

    /// A value by its canonical encoding (written inline: no digest of its own). On error the
    /// buffer is left as it was.
    fn put_value(&mut self, tag: u8, v: &Bound<'py, PyAny>) -> PyResult<()> {
        let mark = self.buf.len();
        self.buf.push(tag);
        let r = encode_into(v, &mut self.buf);
        if r.is_err() {
            self.buf.truncate(mark);
        }
        r
    }

    /// Whether `obj` was written already (and, if so, writes a reference to it).
    fn seen(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<bool> {
        let addr = obj.as_ptr() as usize;
        if let Some(i) = self.visited.iter().position(|&a| a == addr) {
            self.put(b'R', &(i as u64).to_le_bytes());
            return Ok(true);
        }
        self.visited.push(addr);
        Ok(false)
    }

    /// A node's callable.
    fn callable(&mut self, f: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        let py = self.py;
        if f.is_instance(ty(py, &FUNCTION, "types", "FunctionType")?)? {
            return self.function(f, depth);
        }
        if f.is_instance(ty(py, &PARTIAL, "functools", "partial")?)? {
            self.put(b'P', b"");
            self.callable(&f.getattr(intern!(py, "func"))?, depth + 1)?;
            self.value(&f.getattr(intern!(py, "args"))?, depth + 1)?;
            return self.value(&f.getattr(intern!(py, "keywords"))?, depth + 1);
        }
        // a lazily bound method of a @stateful object counts as the method it stands for
        let lazy_method = f
            .get_type()
            .getattr_opt(intern!(py, "_hn_lazy_method"))?
            .is_some_and(|v| v.is_truthy().unwrap_or(false));
        if lazy_method || f.is_instance(ty(py, &METHOD, "types", "MethodType")?)? {
            self.put(b'M', b"");
            self.callable(&f.getattr(intern!(py, "__func__"))?, depth + 1)?;
            let owner = f.getattr(intern!(py, "__self__"))?;
            if !owner.is_instance_of::<PyType>() {
                self.class_if_user(owner.get_type().as_any(), depth + 1)?;
            }
            return self.value(&owner, depth + 1);
        }
        if f.is_instance(ty(py, &BUILTIN, "types", "BuiltinFunctionType")?)? {
            return self.put_name(b'B', f);
        }
        if let Ok(cls) = f.cast::<PyType>() {
            return self.class(cls.as_any(), depth);
        }
        // A callable object: its class (methods included, when user-defined), the function it
        // wraps (`functools.cache` and the like keep it in `__wrapped__`) and its value.
        self.put_name(b'O', f.get_type().as_any())?;
        self.class_if_user(f.get_type().as_any(), depth + 1)?;
        if let Some(inner) = f.getattr_opt(intern!(py, "__wrapped__"))? {
            if inner.is_instance(ty(py, &FUNCTION, "types", "FunctionType")?)? {
                self.function(&inner, depth + 1)?;
            }
        }
        self.value(f, depth + 1)
    }

    fn function(&mut self, f: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        if depth > MAX_DEPTH || self.seen(f)? {
            return Ok(());
        }
        let py = self.py;
        self.put_qualname(b'F', f)?;
        let code = f.getattr(intern!(py, "__code__"))?;
        let mut names: Vec<Bound<'py, PyString>> = Vec::new();
        let mut imports: Vec<Bound<'py, PyString>> = Vec::new();
        self.code(&code, &mut names, &mut imports)?;
        for (tag, attr) in [
            (b'd', intern!(py, "__defaults__")),
            (b'w', intern!(py, "__kwdefaults__")),
        ] {
            if let Some(v) = f.getattr_opt(attr)?.filter(|v| !v.is_none()) {
                self.put(tag, b"");
                self.value(&v, depth + 1)?;
            }
        }
        let freevars = code.getattr(intern!(py, "co_freevars"))?;
        if let Some(cells) = f
            .getattr_opt(intern!(py, "__closure__"))?
            .filter(|c| !c.is_none())
        {
            for (name, cell) in freevars.try_iter()?.zip(cells.try_iter()?) {
                self.put_str(b'n', &name?)?;
                match cell?.getattr(intern!(py, "cell_contents")) {
                    Ok(v) => self.value(&v, depth + 1)?,
                    Err(_) => self.put(b'e', b""), // an empty cell
                }
            }
        }
        let globals = f.getattr(intern!(py, "__globals__"))?;
        let Ok(globals) = globals.cast::<PyDict>() else {
            return Ok(());
        };
        let outer = self.reader.replace(f.clone());
        let r = self
            .globals(globals, &names, depth)
            .and_then(|()| self.imports(globals, &imports, &names, depth));
        self.reader = outer;
        r
    }

    /// The user modules a function imports in its body (`import helpers`, `from .helpers import
    /// g`): the attributes of them that its code names are followed, as for a global module.
    fn imports(
        &mut self,
        globals: &Bound<'py, PyDict>,
        imports: &[Bound<'py, PyString>],
        names: &[Bound<'py, PyString>],
        depth: usize,
    ) -> PyResult<()> {
        let py = self.py;
        if imports.is_empty() {
            return Ok(());
        }
        let modules = py
            .import(intern!(py, "sys"))?
            .getattr(intern!(py, "modules"))?;
        let package = globals
            .get_item(intern!(py, "__package__"))?
            .and_then(|p| p.extract::<String>().ok())
            .filter(|p| !p.is_empty());
        for name in imports {
            let text = name.to_cow()?;
            let mut candidates = vec![text.to_string()];
            if let Some(pkg) = &package {
                candidates.push(format!("{pkg}.{text}")); // a relative import
            }
            for candidate in candidates {
                let Ok(Some(m)) = modules
                    .call_method1(intern!(py, "get"), (candidate.as_str(),))
                    .map(|m| Some(m).filter(|m| m.is_instance_of::<PyModule>()))
                else {
                    continue;
                };
                if is_user_module(py, &candidate)? {
                    self.put(b'I', candidate.as_bytes());
                    self.global(name, &m, names, depth + 1)?;
                }
                break;
            }
        }
        Ok(())
    }

    /// A code object, without file name, line numbers or positions; the global and attribute
    /// names it and its nested code objects use are added to `names`.
    fn code(
        &mut self,
        code: &Bound<'py, PyAny>,
        names: &mut Vec<Bound<'py, PyString>>,
        imports: &mut Vec<Bound<'py, PyString>>,
    ) -> PyResult<()> {
        let py = self.py;
        self.put(b'K', b"");
        let bytecode = code.getattr(intern!(py, "co_code"))?;
        let bytecode = bytecode.cast::<PyBytes>()?.as_bytes();
        self.put(b'b', bytecode);
        if let Some(t) = code.getattr_opt(intern!(py, "co_exceptiontable"))? {
            if let Ok(b) = t.cast::<PyBytes>() {
                self.put(b'x', b.as_bytes());
            }
        }
        for attr in [
            intern!(py, "co_argcount"),
            intern!(py, "co_posonlyargcount"),
            intern!(py, "co_kwonlyargcount"),
            intern!(py, "co_flags"),
        ] {
            let v: i64 = code.getattr(attr)?.extract()?;
            self.put(b'i', &v.to_le_bytes());
        }
        self.put_str(b'c', &code.getattr(intern!(py, "co_name"))?)?;
        for attr in [
            intern!(py, "co_varnames"),
            intern!(py, "co_freevars"),
            intern!(py, "co_cellvars"),
        ] {
            let t = code.getattr(attr)?;
            let t = t.cast::<PyTuple>()?;
            self.put(b'v', &(t.len() as u64).to_le_bytes());
            for n in t.iter() {
                self.put_str(b's', &n)?;
            }
        }
        let co_names = code.getattr(intern!(py, "co_names"))?;
        let co_names = co_names.cast::<PyTuple>()?;
        for i in import_names(py, bytecode)? {
            if let Ok(n) = co_names.get_item(i) {
                if let Ok(s) = n.cast_into::<PyString>() {
                    imports.push(s);
                }
            }
        }
        self.put(b'N', &(co_names.len() as u64).to_le_bytes());
        for n in co_names.iter() {
            self.put_str(b's', &n)?;
            if let Ok(s) = n.cast_into::<PyString>() {
                if !names.iter().any(|m| m.is(&s)) {
                    names.push(s);
                }
            }
        }
        let consts = code.getattr(intern!(py, "co_consts"))?;
        let consts = consts.cast::<PyTuple>()?;
        let code_type = ty(py, &CODE, "types", "CodeType")?;
        self.put(b'C', &(consts.len() as u64).to_le_bytes());
        for c in consts.iter() {
            if c.is_instance(code_type)? {
                self.code(&c, names, imports)?;
            } else {
                self.put_value(b'k', &c)?;
            }
        }
        Ok(())
    }

    /// The globals a function's code names, in the order it names them.
    fn globals(
        &mut self,
        globals: &Bound<'py, PyDict>,
        names: &[Bound<'py, PyString>],
        depth: usize,
    ) -> PyResult<()> {
        for name in names {
            if let Some(v) = globals.get_item(name)? {
                self.global(name, &v, names, depth + 1)?;
            }
        }
        Ok(())
    }

    /// One global a function reads.
    fn global(
        &mut self,
        name: &Bound<'py, PyString>,
        v: &Bound<'py, PyAny>,
        names: &[Bound<'py, PyString>],
        depth: usize,
    ) -> PyResult<()> {
        let py = self.py;
        if depth > MAX_DEPTH {
            return Ok(());
        }
        self.put_str(b'G', name.as_any())?;
        if v.is_instance(ty(py, &FUNCTION, "types", "FunctionType")?)? {
            if is_user(v)? {
                return self.function(v, depth);
            }
            return self.put_name(b'L', v);
        }
        if v.is_instance_of::<PyType>() {
            return self.class_if_user(v, depth).map(|_| ());
        }
        if let Ok(m) = v.cast::<PyModule>() {
            let mname = m.name()?;
            self.put_str(b'm', mname.as_any())?;
            if !is_user_module(py, &mname.to_cow()?)? {
                return Ok(());
            }
            // `helpers.f(...)`: the attributes of a user module that this code names.
            let dict = m.dict();
            for n in names {
                if let Some(attr) = dict.get_item(n)? {
                    if !attr.is_instance_of::<PyModule>() {
                        self.global(n, &attr, names, depth + 1)?;
                    }
                }
            }
            return Ok(());
        }
        if v.is_instance(ty(py, &PARTIAL, "functools", "partial")?)?
            || v.is_instance(ty(py, &METHOD, "types", "MethodType")?)?
        {
            return self.callable(v, depth);
        }
        if v.is_instance(ty(py, &BUILTIN, "types", "BuiltinFunctionType")?)? {
            return self.put_name(b'B', v);
        }
        // A decorator that returns an object (`functools.cache`, `lru_cache`, ...) keeps the
        // function in `__wrapped__`: follow it. (Only callables are asked: a missing attribute
        // costs an exception.)
        let wrapped = match v.is_callable() {
            true => v.getattr_opt(intern!(py, "__wrapped__"))?,
            false => None,
        };
        if let Some(inner) = wrapped {
            if inner.is_instance(ty(py, &FUNCTION, "types", "FunctionType")?)? {
                self.put_name(b'W', v.get_type().as_any())?;
                return if is_user(&inner)? {
                    self.function(&inner, depth)
                } else {
                    self.put_name(b'L', &inner)
                };
            }
        }
        self.constant(name, v)
    }

    /// A global (or class attribute) that is data: by value when simple, else named in a warning
    /// when its type is user-defined or a container (library objects count by name only).
    fn constant(&mut self, name: &Bound<'py, PyString>, v: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = self.py;
        let mut budget = SIMPLE_MAX;
        if is_simple(py, v, &mut budget)? {
            return self.put_value(b'V', v);
        }
        let container = v.is_instance_of::<PyList>()
            || v.is_instance_of::<PyDict>()
            || v.is_instance_of::<PySet>()
            || v.is_instance_of::<PyTuple>()
            || v.is_instance_of::<PyFrozenSet>();
        let tp = v.get_type();
        self.put_name(b'T', tp.as_any())?;
        if container || is_user(tp.as_any())? {
            let reader = self.reader.as_ref().map(qualified).unwrap_or_default();
            let what = if budget == 0 {
                format!("a {} of more than {SIMPLE_MAX} items", type_label(&tp))
            } else {
                format!("a {}", type_label(&tp))
            };
            let msg = format!(
                "{} reads the global '{}' ({what}), which is not part of its cache key: when it \
                 changes what the node computes, pin version= on the node (or give the value's \
                 class a __cache_key__() and pass it as an input)",
                reader,
                name.to_cow()?
            );
            hypernodes::for_binding::warn_once(&format!("code-global:{}:{}", reader, name), &msg);
        }
        Ok(())
    }

    /// A class, followed when user-defined (else by name).
    fn class_if_user(&mut self, cls: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        if is_user(cls)? {
            self.class(cls, depth)
        } else {
            self.put_name(b'L', cls)
        }
    }

    /// A user-defined class: its name, its bases and its namespace (functions, properties, static
    /// and class methods, nested classes, simple constants; anything else by its type's name).
    fn class(&mut self, cls: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        if depth > MAX_DEPTH || self.seen(cls)? {
            return Ok(());
        }
        let py = self.py;
        self.put_qualname(b'Y', cls)?;
        for base in cls.getattr(intern!(py, "__bases__"))?.try_iter()? {
            self.class_if_user(&base?, depth + 1)?;
        }
        let ns = cls.getattr(intern!(py, "__dict__"))?;
        let items = ns.call_method0(intern!(py, "items"))?;
        let func_type = ty(py, &FUNCTION, "types", "FunctionType")?;
        for item in items.try_iter()? {
            let item = item?;
            let (k, v) = (item.get_item(0)?, item.get_item(1)?);
            let Ok(k) = k.cast_into::<PyString>() else {
                continue;
            };
            let key = k.to_cow()?;
            if matches!(
                &*key,
                "__module__"
                    | "__qualname__"
                    | "__dict__"
                    | "__weakref__"
                    | "__doc__"
                    | "__annotations__"
                    | "__firstlineno__"
                    | "__static_attributes__"
            ) {
                continue;
            }
            self.put_str(b'a', k.as_any())?;
            if v.is_instance(func_type)? {
                self.function(&v, depth + 1)?;
            } else if v.is_instance(ty(py, &STATICMETHOD, "builtins", "staticmethod")?)?
                || v.is_instance(ty(py, &CLASSMETHOD, "builtins", "classmethod")?)?
            {
                let f = v.getattr(intern!(py, "__func__"))?;
                self.put(b'S', b"");
                self.callable(&f, depth + 1)?;
            } else if v.is_instance(ty(py, &PROPERTY, "builtins", "property")?)? {
                for part in ["fget", "fset", "fdel"] {
                    let f = v.getattr(part)?;
                    if !f.is_none() {
                        self.callable(&f, depth + 1)?;
                    }
                }
            } else if v.is_instance_of::<PyType>() {
                self.class_if_user(&v, depth + 1)?;
            } else {
                let mut budget = SIMPLE_MAX;
                if is_simple(py, &v, &mut budget)? {
                    self.put_value(b'V', &v)?;
                } else {
                    self.put_name(b'T', v.get_type().as_any())?;
                }
            }
        }
        Ok(())
    }

    /// A default, closure or bound value: callables by their identity, classes followed when
    /// user-defined, anything else by value (its class when it cannot be hashed).
    fn value(&mut self, v: &Bound<'py, PyAny>, depth: usize) -> PyResult<()> {
        let py = self.py;
        if v.is_instance(ty(py, &FUNCTION, "types", "FunctionType")?)?
            || v.is_instance(ty(py, &PARTIAL, "functools", "partial")?)?
            || v.is_instance(ty(py, &METHOD, "types", "MethodType")?)?
        {
            self.put(b'f', b"");
            return self.callable(v, depth);
        }
        if v.is_instance_of::<PyType>() {
            return self.class_if_user(v, depth);
        }
        // An instance of a user-defined class (a model a closure holds): its class's code too.
        let tp = v.get_type();
        if is_user(tp.as_any())? {
            self.class(tp.as_any(), depth + 1)?;
        }
        if self.put_value(b'V', v).is_err() {
            // Not hashable by value (a lock, a client): its class stands in for it. Pin
            // `version=` on the node when such a value changes what the function computes.
            self.put_name(b'T', v.get_type().as_any())?;
        }
        Ok(())
    }
}

/// `IMPORT_NAME` and `EXTENDED_ARG` of this interpreter (from the `opcode` module).
static OPCODES: PyOnceLock<(u8, u8)> = PyOnceLock::new();

/// The `co_names` indices of the modules a bytecode imports (`IMPORT_NAME` instructions).
fn import_names(py: Python<'_>, bytecode: &[u8]) -> PyResult<Vec<usize>> {
    let &(import_name, extended) = OPCODES.get_or_try_init(py, || -> PyResult<_> {
        let opcode = py.import("opcode")?;
        let import_name: u8 = opcode
            .getattr("opmap")?
            .get_item("IMPORT_NAME")?
            .extract()?;
        let extended: u8 = opcode.getattr("EXTENDED_ARG")?.extract()?;
        Ok((import_name, extended))
    })?;
    let mut found = Vec::new();
    let mut arg_high = 0usize;
    for unit in bytecode.chunks_exact(2) {
        let (op, arg) = (unit[0], unit[1] as usize);
        if op == extended {
            arg_high = (arg_high | arg) << 8;
            continue;
        }
        if op == import_name {
            found.push(arg_high | arg);
        }
        arg_high = 0;
    }
    Ok(found)
}

/// Whether `v` is a constant of a simple type (None, bool, numbers, str, bytes, enum members, and
/// tuples and frozensets of these), with at most `budget` elements in all. Lists, dicts and sets
/// are not: a program mutates them (a log, a memo), and a key must not follow their contents.
fn is_simple(py: Python<'_>, v: &Bound<'_, PyAny>, budget: &mut usize) -> PyResult<bool> {
    if *budget == 0 {
        return Ok(false);
    }
    *budget -= 1;
    if v.is_none()
        || v.is_exact_instance_of::<PyBool>()
        || v.is_exact_instance_of::<PyInt>()
        || v.is_exact_instance_of::<PyFloat>()
        || v.is_exact_instance_of::<PyComplex>()
        || v.is_exact_instance_of::<PyString>()
        || v.is_exact_instance_of::<PyBytes>()
        || v.is_instance(ty(py, &ENUM, "enum", "Enum")?)?
    {
        return Ok(true);
    }
    if v.is_exact_instance_of::<PyTuple>() || v.is_exact_instance_of::<PyFrozenSet>() {
        for item in v.try_iter()? {
            if !is_simple(py, &item?, budget)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    Ok(false)
}

fn qualified(f: &Bound<'_, PyAny>) -> String {
    let py = f.py();
    let module = f
        .getattr_opt(intern!(py, "__module__"))
        .ok()
        .flatten()
        .filter(|m| !m.is_none())
        .map(|m| m.to_string());
    let name = f
        .getattr_opt(intern!(py, "__qualname__"))
        .ok()
        .flatten()
        .map(|m| m.to_string())
        .unwrap_or_else(|| "?".into());
    match module {
        Some(m) => format!("{m}.{name}"),
        None => name,
    }
}

fn type_label(tp: &Bound<'_, PyType>) -> String {
    match (tp.module(), tp.qualname()) {
        (Ok(m), Ok(q)) if m.to_cow().is_ok_and(|m| m == "builtins") => q.to_string(),
        (Ok(m), Ok(q)) => format!("{m}.{q}"),
        _ => "?".into(),
    }
}

/// Whether a function or class was defined in user code (its `__module__`).
fn is_user(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = obj.py();
    match obj.getattr_opt(intern!(py, "__module__"))? {
        Some(m) if m.is_instance_of::<PyString>() => {
            let m = m.cast_into::<PyString>()?;
            is_user_module(py, &m.to_cow()?)
        }
        // No module (made with `exec`, say): user code.
        _ => Ok(true),
    }
}

/// Whether module `name` is user code (not the standard library, not an installed package),
/// decided once per module (`hypernodes._code.is_user_module` is this function).
fn is_user_module(py: Python<'_>, name: &str) -> PyResult<bool> {
    if let Some(known) = USER_MODULES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(name).copied())
    {
        return Ok(known);
    }
    let user = decide_user_module(py, name)?;
    USER_MODULES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(name.to_string(), user);
    Ok(user)
}

/// `is_user_module(name) -> bool`: whether module `name` is user code, whose functions and classes
/// a node's code identity follows: `__main__`, and any module not in the standard library, among
/// installed packages or in hypernodes itself. A module that is not imported (functions made by
/// `exec`) counts as user code.
#[pyfunction(name = "is_user_module")]
pub fn is_user_module_py(py: Python<'_>, name: &str) -> PyResult<bool> {
    is_user_module(py, name)
}

/// The library directories (`hypernodes._code._library_roots()`, each ending in a separator), read
/// once.
static LIBRARY_ROOTS: PyOnceLock<Vec<String>> = PyOnceLock::new();

/// `sys.<name>` (without importing `sys`: the interpreter keeps it).
fn sys_attr<'py>(py: Python<'py>, name: &std::ffi::CStr) -> Option<Bound<'py, PyAny>> {
    // SAFETY: `PySys_GetObject` returns a borrowed reference (or NULL without an exception),
    // taken as a new one here while the interpreter lock is held.
    unsafe { Bound::from_borrowed_ptr_or_opt(py, pyo3::ffi::PySys_GetObject(name.as_ptr())) }
}

fn decide_user_module(py: Python<'_>, name: &str) -> PyResult<bool> {
    let top = name.split('.').next().unwrap_or_default();
    let builtin = || -> PyResult<bool> {
        match sys_attr(py, c"builtin_module_names") {
            Some(names) => names.contains(name),
            None => Ok(false),
        }
    };
    if top == "hypernodes" || builtin()? {
        return Ok(false);
    }
    if name == "__main__" {
        return Ok(true);
    }
    let module = match sys_attr(py, c"modules") {
        Some(modules) => match modules.cast::<PyDict>() {
            Ok(d) => d.get_item(name)?,
            Err(_) => Some(modules.call_method1(intern!(py, "get"), (name,))?),
        },
        None => None,
    };
    let Some(module) = module.filter(|m| !m.is_none()) else {
        return Ok(true);
    };
    let file = match module.getattr_opt(intern!(py, "__file__"))? {
        Some(f) if f.is_truthy()? => f,
        _ => return Ok(false), // builtin, frozen
    };
    let roots = LIBRARY_ROOTS.get_or_try_init(py, || -> PyResult<_> {
        crate::py_modules::code(py)?
            .getattr("_library_roots")?
            .call0()?
            .extract()
    })?;
    let in_library = |path: &str| roots.iter().any(|r| path.starts_with(r.as_str()));
    if let Ok(s) = file.cast::<PyString>() {
        let path = s.to_cow()?;
        if is_normal_absolute(&path) {
            // `os.path.abspath` would return it unchanged
            return Ok(!in_library(&path));
        }
    }
    let path = py.import("os.path")?.getattr("abspath")?.call1((file,))?;
    Ok(!in_library(&path.extract::<String>()?))
}

/// Whether `path` is absolute and already normal (what `os.path.abspath` returns unchanged): one
/// leading `/`, and no empty, `.` or `..` component.
fn is_normal_absolute(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
    })
}
