//! Caching of node results. Keys are Merkle-style: a node's key hashes its code identity and the keys
//! of its inputs, where a root input is hashed by value and an intermediate by its producer's key.
//! Caches store each node's outputs as one encoded blob; [`MemoryCache`] keeps the values themselves.

mod disk;
mod keys;
mod memory;

use std::sync::Arc;

pub use disk::{
    flush_all, CacheStats, DiskCache, PruneReport, COMMIT_WINDOW, INLINE_MAX, SECRET_ENV,
    TRUST_SHARED_ENV,
};
pub use keys::{
    node_identity as keys_node_identity, node_key, output_key, pipeline_identity, Key, KeyHasher,
};
pub use memory::MemoryCache;

use crate::value::{Value, ValueType};

/// A store of node results by key.
pub trait Cache: std::any::Any + Send + Sync {
    /// The outputs stored under `key`, decoded with `types` (one per output); `None` on a miss.
    /// An unreadable entry is a miss, reported with a warning.
    fn get(&self, key: &Key, types: &[Arc<dyn ValueType>]) -> Option<Vec<Value>>;
    /// Stores outputs under `key`, encoded with `types`. Errors say why a value cannot be stored.
    fn put(&self, key: &Key, values: &[Value], types: &[Arc<dyn ValueType>]) -> Result<(), String>;
    /// Makes every stored entry durable and visible to other processes (a no-op for caches that
    /// write through). The engine calls it at the end of every root run and map.
    fn flush(&self) {}
}

/// Encodes a node's outputs as one blob: for each value, its length (u64 LE) then its bytes.
pub fn encode_all(values: &[Value], types: &[Arc<dyn ValueType>]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (v, t) in values.iter().zip(types) {
        let bytes = t.encode(v)?;
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Decodes a blob made by [`encode_all`].
pub fn decode_all(mut blob: &[u8], types: &[Arc<dyn ValueType>]) -> Result<Vec<Value>, String> {
    let mut values = Vec::with_capacity(types.len());
    for t in types {
        if blob.len() < 8 {
            return Err("truncated entry".into());
        }
        let (len, rest) = blob.split_at(8);
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
        if rest.len() < len {
            return Err("truncated entry".into());
        }
        let (bytes, rest) = rest.split_at(len);
        values.push(t.decode(bytes)?);
        blob = rest;
    }
    if !blob.is_empty() {
        return Err("trailing bytes in entry".into());
    }
    Ok(values)
}
