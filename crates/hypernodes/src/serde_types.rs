//! Hashing and storing typed Rust values with serde. A type becomes cacheable by registering it once
//! with [`register_cacheable`]; common types (integers, floats, bool, String, and Vecs of them) are
//! registered already. Values are stored as JSON, and hashed as their type name plus their canonical
//! encoding ([`crate::canonical`]: maps and unordered sets in a fixed order, so a `HashMap` or a
//! `HashSet` hashes the same in every process).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::value::{value, Value};

type EncodeFn = fn(&Value) -> Result<Vec<u8>, String>;
type DecodeFn = fn(&[u8]) -> Result<Value, String>;
type CanonicalFn = fn(&Value) -> Result<Vec<u8>, String>;

/// How a registered type is stored, read back and hashed.
#[derive(Clone, Copy)]
struct Entry {
    encode: EncodeFn,
    decode: DecodeFn,
    canonical: CanonicalFn,
}

impl Entry {
    fn of<T: Serialize + DeserializeOwned + Send + Sync + 'static>() -> Entry {
        Entry {
            encode: enc::<T>,
            decode: dec::<T>,
            canonical: canon::<T>,
        }
    }
}

fn registry() -> &'static RwLock<HashMap<TypeId, Entry>> {
    static R: OnceLock<RwLock<HashMap<TypeId, Entry>>> = OnceLock::new();
    R.get_or_init(|| {
        let mut m = HashMap::new();
        macro_rules! builtin {
            ($($t:ty),*) => {$(
                m.insert(TypeId::of::<$t>(), Entry::of::<$t>());
                m.insert(TypeId::of::<Vec<$t>>(), Entry::of::<Vec<$t>>());
            )*};
        }
        builtin!(
            i8,
            i16,
            i32,
            i64,
            u8,
            u16,
            u32,
            u64,
            usize,
            isize,
            f32,
            f64,
            bool,
            String,
            char,
            ()
        );
        RwLock::new(m)
    })
}

fn enc<T: Serialize + 'static>(v: &Value) -> Result<Vec<u8>, String> {
    let t = v
        .downcast_ref::<T>()
        .ok_or_else(|| format!("expected a {}", std::any::type_name::<T>()))?;
    serde_json::to_vec(t).map_err(|e| e.to_string())
}

fn canon<T: Serialize + 'static>(v: &Value) -> Result<Vec<u8>, String> {
    let t = v
        .downcast_ref::<T>()
        .ok_or_else(|| format!("expected a {}", std::any::type_name::<T>()))?;
    crate::canonical::encode(t).map_err(|e| e.to_string())
}

fn dec<T: DeserializeOwned + Send + Sync + 'static>(b: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<T>(b)
        .map(value)
        .map_err(|e| e.to_string())
}

/// Makes values of `T` hashable and storable in a disk cache.
pub fn register_cacheable<T: Serialize + DeserializeOwned + Send + Sync + 'static>() {
    registry()
        .write()
        .expect("type registry poisoned")
        .insert(TypeId::of::<T>(), Entry::of::<T>());
}

fn lookup<T: 'static>() -> Result<Entry, String> {
    registry()
        .read()
        .expect("type registry poisoned")
        .get(&TypeId::of::<T>())
        .copied()
        .ok_or_else(|| {
            format!(
                "{} is not cacheable: call hypernodes::register_cacheable::<{}>() once",
                std::any::type_name::<T>(),
                std::any::type_name::<T>()
            )
        })
}

pub(crate) fn hash<T: 'static>(v: &Value) -> Result<[u8; 32], String> {
    let bytes = (lookup::<T>()?.canonical)(v)?;
    let mut h = blake3::Hasher::new();
    h.update(std::any::type_name::<T>().as_bytes());
    h.update(&[0]);
    h.update(&bytes);
    Ok(*h.finalize().as_bytes())
}

pub(crate) fn encode<T: 'static>(v: &Value) -> Result<Vec<u8>, String> {
    (lookup::<T>()?.encode)(v)
}

pub(crate) fn decode<T: 'static>(b: &[u8]) -> Result<Value, String> {
    (lookup::<T>()?.decode)(b)
}
