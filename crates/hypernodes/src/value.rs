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

/// The type of a Rust port holding `T`. Lists of `T` are `Vec<T>`.
pub struct Typed<T>(std::marker::PhantomData<fn() -> T>);

impl<T: Clone + Send + Sync + 'static> Typed<T> {
    /// The shared descriptor of `T`.
    pub fn arc() -> Arc<dyn ValueType> {
        Arc::new(Typed::<T>(std::marker::PhantomData))
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
        if let Some(v) = list.downcast_ref::<Vec<T>>() {
            return Ok(v.iter().map(|x| value(x.clone())).collect());
        }
        if let Some(v) = list.downcast_ref::<Vec<Value>>() {
            return Ok(v.clone());
        }
        Err(format!("expected a Vec<{}>", std::any::type_name::<T>()))
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
        Arc::new(TypedList::<T>(std::marker::PhantomData))
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

/// The type `Vec<T>` of a mapped port whose items are `T`: lists of it are `Vec<Vec<T>>`. Its own list
/// type is erased (see [`ListOf`]) so that the types stay finite.
struct TypedList<T>(std::marker::PhantomData<fn() -> T>);

impl<T: Clone + Send + Sync + 'static> ValueType for TypedList<T> {
    fn type_id(&self) -> Option<TypeId> {
        Some(TypeId::of::<Vec<T>>())
    }
    fn type_name(&self) -> &str {
        std::any::type_name::<Vec<T>>()
    }
    fn split(&self, list: &Value) -> Result<Vec<Value>, String> {
        if let Some(v) = list.downcast_ref::<Vec<Vec<T>>>() {
            return Ok(v.iter().map(|x| value(x.clone())).collect());
        }
        if let Some(v) = list.downcast_ref::<Vec<Value>>() {
            return Ok(v.clone());
        }
        Err(format!(
            "expected a Vec<Vec<{}>>",
            std::any::type_name::<T>()
        ))
    }
    fn collect(&self, items: Vec<Value>) -> Value {
        let typed: Option<Vec<Vec<T>>> = items
            .iter()
            .map(|v| v.downcast_ref::<Vec<T>>().cloned())
            .collect();
        match typed {
            Some(v) => value(v),
            None => value(items),
        }
    }
    fn list_type(&self) -> Arc<dyn ValueType> {
        Arc::new(ListOf {
            id: TypeId::of::<Vec<Vec<T>>>(),
            name: std::any::type_name::<Vec<Vec<T>>>().to_string(),
        })
    }
    fn hash(&self, v: &Value) -> Result<[u8; 32], String> {
        crate::serde_types::hash::<Vec<T>>(v)
    }
    fn encode(&self, v: &Value) -> Result<Vec<u8>, String> {
        crate::serde_types::encode::<Vec<T>>(v)
    }
    fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        crate::serde_types::decode::<Vec<T>>(bytes)
    }
    fn shareable(&self, _v: &Value) -> bool {
        true // a Rust value cannot be changed through its shared pointer
    }
}

/// The type of a list of typed values whose element type is erased (a mapped output of a Rust pipeline
/// node). It is checked by `TypeId`; its own lists are `Vec<Value>`.
struct ListOf {
    id: TypeId,
    name: String,
}

impl ValueType for ListOf {
    fn type_id(&self) -> Option<TypeId> {
        Some(self.id)
    }
    fn type_name(&self) -> &str {
        &self.name
    }
    fn split(&self, list: &Value) -> Result<Vec<Value>, String> {
        list.downcast_ref::<Vec<Value>>()
            .cloned()
            .ok_or_else(|| format!("expected a list of {}", self.name))
    }
    fn collect(&self, items: Vec<Value>) -> Value {
        value(items)
    }
    fn list_type(&self) -> Arc<dyn ValueType> {
        Arc::new(ListOf {
            id: TypeId::of::<Vec<Value>>(),
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
