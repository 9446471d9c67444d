//! Values that flow between nodes, and the types that describe them.
//!
//! The engine never looks inside a value: a [`Value`] is a shared pointer to anything. Each port of a
//! node carries a [`ValueType`] that knows how to split a list value into items (for `map_over`) and
//! how to collect items back into a list, and, for typed fronts, which Rust type it holds.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// A value passed between nodes: shared, immutable, of any type.
pub type Value = Arc<dyn Any + Send + Sync>;

/// Wraps a Rust value as a [`Value`].
pub fn value<T: Any + Send + Sync>(v: T) -> Value {
    Arc::new(v)
}

/// Describes the values a port holds: their type (when known) and how lists of them are split and built.
pub trait ValueType: Send + Sync + 'static {
    /// The Rust type held, when the front is typed; `None` for dynamic fronts (Python).
    fn type_id(&self) -> Option<TypeId>;
    /// A readable name of the type, used in error messages.
    fn type_name(&self) -> &str;
    /// Splits a list value into its items, or says why it is not a list.
    fn split(&self, list: &Value) -> Result<Vec<Value>, String>;
    /// Builds one list value from items of this type.
    fn collect(&self, items: Vec<Value>) -> Value;
    /// The number of items of a list value (what [`ValueType::split`] would give), or why it is
    /// not a list this type can count without splitting. A front whose lists can be sliced
    /// cheaply overrides it with [`ValueType::slice`], so a map whose nodes all take whole
    /// columns (dual nodes) never splits its lists into items.
    fn list_len(&self, list: &Value) -> Result<usize, String> {
        self.split(list).map(|items| items.len())
    }
    /// Items `start..end` of a list value, as a list value of this type.
    fn slice(&self, list: &Value, start: usize, end: usize) -> Result<Value, String> {
        let items = self.split(list)?;
        let part = items
            .get(start..end)
            .ok_or_else(|| format!("items {start}..{end} of a list of {} items", items.len()))?;
        Ok(self.collect(part.to_vec()))
    }
    /// The type of a list of these values (the port type of a mapped input or output).
    fn list_type(&self) -> Arc<dyn ValueType>;
    /// A canonical hash of a value, equal for equal values across processes and runs.
    fn hash(&self, v: &Value) -> Result<[u8; 32], String> {
        let _ = v;
        Err(format!(
            "values of type {} cannot be hashed",
            self.type_name()
        ))
    }
    /// Encodes a value for a disk cache.
    fn encode(&self, v: &Value) -> Result<Vec<u8>, String> {
        let _ = v;
        Err(format!(
            "values of type {} cannot be stored",
            self.type_name()
        ))
    }
    /// Decodes a value encoded by [`ValueType::encode`].
    fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        let _ = bytes;
        Err(format!(
            "values of type {} cannot be read back",
            self.type_name()
        ))
    }
    /// [`ValueType::encode`] into a writer, so a large value is written without a copy in memory.
    /// An error of the writer is returned as it is (prefixed by nothing).
    fn encode_into(&self, v: &Value, out: &mut dyn std::io::Write) -> Result<(), String> {
        let bytes = self.encode(v)?;
        out.write_all(&bytes).map_err(|e| e.to_string())
    }
    /// [`ValueType::decode`] taking the bytes, so a large value may keep them without a copy.
    fn decode_owned(&self, bytes: Vec<u8>) -> Result<Value, String> {
        self.decode(&bytes)
    }
    /// Whether one decoded value may be handed out again and again (it cannot be changed in
    /// place, so no caller can alter what another one gets). Caches then keep it decoded.
    fn shareable(&self, v: &Value) -> bool {
        let _ = v;
        false
    }
}

impl fmt::Debug for dyn ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

/// The type of a Rust port holding `T`. Lists of `T` are `Vec<T>`, lists of those `Vec<Vec<T>>`, and so
/// on: mapped pipelines nest with full type checks down to [`TYPED_LIST_DEPTH`] levels of lists.
pub struct Typed<T>(std::marker::PhantomData<fn() -> T>);

/// How many levels of lists (`Vec<Vec<..T..>>`) a typed port keeps typed: the list types of deeper mapped
/// nestings are still split and built, but as `Vec<Value>` and without a type check.
pub const TYPED_LIST_DEPTH: usize = 6;

impl<T: Clone + Send + Sync + 'static> Typed<T> {
    /// The shared descriptor of `T`.
    pub fn arc() -> Arc<dyn ValueType> {
        Arc::new(Typed::<T>(std::marker::PhantomData))
    }
}

/// A type-level count of the list levels left to type (`Z` = none, `S<N>` = one more than `N`), so that
/// `list_type` instantiates a finite chain `Vec<T>`, `Vec<Vec<T>>`, ... and then erases.
trait Depth: Send + Sync + 'static {
    /// The descriptor of `Vec<T>` with one level fewer left.
    fn list_of<T: Clone + Send + Sync + 'static>() -> Arc<dyn ValueType>;
}

/// No list level left: the next list type is erased.
struct Z;
/// One list level more than `N`.
struct S<N>(std::marker::PhantomData<fn() -> N>);

impl Depth for Z {
    fn list_of<T: Clone + Send + Sync + 'static>() -> Arc<dyn ValueType> {
        Arc::new(ListOf {
            name: std::any::type_name::<Vec<T>>().to_string(),
        })
    }
}

impl<N: Depth> Depth for S<N> {
    fn list_of<T: Clone + Send + Sync + 'static>() -> Arc<dyn ValueType> {
        Arc::new(Level::<Vec<T>, N>(std::marker::PhantomData))
    }
}

/// [`TYPED_LIST_DEPTH`] as a type.
type Top = S<S<S<S<S<S<Z>>>>>>;

/// A typed port type `T` whose lists keep `N` more levels typed.
struct Level<T, N>(std::marker::PhantomData<fn() -> (T, N)>);

impl<T: Clone + Send + Sync + 'static, N: Depth> ValueType for Level<T, N> {
    fn type_id(&self) -> Option<TypeId> {
        Some(TypeId::of::<T>())
    }
    fn type_name(&self) -> &str {
        std::any::type_name::<T>()
    }
    fn split(&self, list: &Value) -> Result<Vec<Value>, String> {
        if let Some(v) = list.downcast_ref::<Vec<T>>() {
            return Ok(v.iter().map(|x| value(x.clone())).collect());
        }
        if let Some(v) = list.downcast_ref::<Vec<Value>>() {
            return Ok(v.clone());
        }
        Err(format!("expected a {}", std::any::type_name::<Vec<T>>()))
    }
    fn collect(&self, items: Vec<Value>) -> Value {
        let typed: Option<Vec<T>> = items
            .iter()
            .map(|v| v.downcast_ref::<T>().cloned())
            .collect();
        match typed {
            Some(v) => value(v),
            None => value(items),
        }
    }
    fn list_type(&self) -> Arc<dyn ValueType> {
        N::list_of::<T>()
    }
    fn hash(&self, v: &Value) -> Result<[u8; 32], String> {
        crate::serde_types::hash::<T>(v)
    }
    fn encode(&self, v: &Value) -> Result<Vec<u8>, String> {
        crate::serde_types::encode::<T>(v)
    }
    fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        crate::serde_types::decode::<T>(bytes)
    }
    fn shareable(&self, _v: &Value) -> bool {
        true // a Rust value cannot be changed through its shared pointer
    }
}

impl<T: Clone + Send + Sync + 'static> ValueType for Typed<T> {
    fn type_id(&self) -> Option<TypeId> {
        Some(TypeId::of::<T>())
    }
    fn type_name(&self) -> &str {
        std::any::type_name::<T>()
    }
    fn split(&self, list: &Value) -> Result<Vec<Value>, String> {
        Level::<T, Top>(std::marker::PhantomData).split(list)
    }
    fn collect(&self, items: Vec<Value>) -> Value {
        Level::<T, Top>(std::marker::PhantomData).collect(items)
    }
    fn list_type(&self) -> Arc<dyn ValueType> {
        Top::list_of::<T>()
    }
    fn hash(&self, v: &Value) -> Result<[u8; 32], String> {
        crate::serde_types::hash::<T>(v)
    }
    fn encode(&self, v: &Value) -> Result<Vec<u8>, String> {
        crate::serde_types::encode::<T>(v)
    }
    fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        crate::serde_types::decode::<T>(bytes)
    }
    fn shareable(&self, _v: &Value) -> bool {
        true // a Rust value cannot be changed through its shared pointer
    }
}

/// The type of a list nested deeper than [`TYPED_LIST_DEPTH`]: its lists are `Vec<Value>` and it is not
/// type-checked (its name still says what it holds).
struct ListOf {
    name: String,
}

impl ValueType for ListOf {
    fn type_id(&self) -> Option<TypeId> {
        None
    }
    fn type_name(&self) -> &str {
        &self.name
    }
    fn split(&self, list: &Value) -> Result<Vec<Value>, String> {
        list.downcast_ref::<Vec<Value>>()
            .cloned()
            .ok_or_else(|| format!("expected a Vec<Value> of {}", self.name))
    }
    fn collect(&self, items: Vec<Value>) -> Value {
        value(items)
    }
    fn list_type(&self) -> Arc<dyn ValueType> {
        Arc::new(ListOf {
            name: format!("Vec<{}>", self.name),
        })
    }
}

/// A port type that accepts anything and is never type-checked. Lists are `Vec<Value>`.
pub struct AnyType;

impl ValueType for AnyType {
    fn type_id(&self) -> Option<TypeId> {
        None
    }
    fn type_name(&self) -> &str {
        "any"
    }
    fn split(&self, list: &Value) -> Result<Vec<Value>, String> {
        list.downcast_ref::<Vec<Value>>()
            .cloned()
            .ok_or_else(|| "expected a Vec<Value>".to_string())
    }
    fn collect(&self, items: Vec<Value>) -> Value {
        value(items)
    }
    fn list_type(&self) -> Arc<dyn ValueType> {
        Arc::new(AnyType)
    }
}

/// A type name without its module paths: `alloc::vec::Vec<alloc::string::String>` becomes
/// `Vec<String>`. Used in error messages.
pub(crate) fn short_type_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut word = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            word.clear(); // a path segment: drop it
        } else {
            out.push_str(&word);
            word.clear();
            out.push(c);
        }
    }
    out.push_str(&word);
    out
}

/// The name of the type a value holds, when it is one of `known` or a common type; `None` otherwise
/// (a [`Value`] does not carry its type's name).
pub(crate) fn name_of(v: &Value, known: &[&dyn ValueType]) -> Option<String> {
    let id = (**v).type_id();
    for t in known {
        if ValueType::type_id(*t) == Some(id) {
            return Some(short_type_name(t.type_name()));
        }
    }
    macro_rules! common {
        ($($t:ty),*) => {$(
            if id == TypeId::of::<$t>() {
                return Some(short_type_name(std::any::type_name::<$t>()));
            }
            if id == TypeId::of::<Vec<$t>>() {
                return Some(short_type_name(std::any::type_name::<Vec<$t>>()));
            }
            if id == TypeId::of::<Option<$t>>() {
                return Some(short_type_name(std::any::type_name::<Option<$t>>()));
            }
        )*};
    }
    common!(
        &'static str,
        String,
        i8,
        i16,
        i32,
        i64,
        i128,
        u8,
        u16,
        u32,
        u64,
        u128,
        usize,
        isize,
        f32,
        f64,
        bool,
        char,
        (),
        Vec<String>,
        Vec<&'static str>,
        Vec<i32>,
        Vec<i64>,
        Vec<u64>,
        Vec<usize>,
        Vec<f64>,
        Value,
        Arc<str>,
        std::path::PathBuf
    );
    None
}
