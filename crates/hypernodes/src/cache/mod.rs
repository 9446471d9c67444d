//! Caching of node results. Keys are Merkle-style: a node's key hashes its code identity and the keys
//! of its inputs, where a root input is hashed by value and an intermediate by its producer's key.
//! Caches store each node's outputs as one encoded blob; [`MemoryCache`] keeps the values themselves.

mod disk;
mod keys;
mod memory;

use std::sync::Arc;

pub use disk::{flush_all, flush_all_at_exit, CacheStats, DiskCache, PruneReport};
pub use keys::{always_runs, input_key, node_identity as keys_node_identity, Key};
pub(crate) use keys::{node_key, output_key, KeyHasher};
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

/// Encodes a node's outputs as one blob: the encodings one after another, then each one's length
/// (u64 LE). Lengths go last so that a single large encoding is extended in place, never copied.
pub(crate) fn encode_all_into(
    values: &[Value],
    types: &[Arc<dyn ValueType>],
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    struct Counting<'a>(&'a mut dyn std::io::Write, u64);
    impl std::io::Write for Counting<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.0.write(buf)?;
            self.1 += n as u64;
            Ok(n)
        }
        fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
            self.0.write_all(buf)?;
            self.1 += buf.len() as u64;
            Ok(())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
    let mut lengths = Vec::with_capacity(values.len());
    for (v, t) in values.iter().zip(types) {
        let mut w = Counting(out, 0);
        t.encode_into(v, &mut w)?;
        lengths.push(w.1);
    }
    for n in lengths {
        out.write_all(&n.to_le_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// [`decode_all`] taking the blob: a single value gets the bytes without a copy.
pub(crate) fn decode_all_owned(
    mut blob: Vec<u8>,
    types: &[Arc<dyn ValueType>],
) -> Result<Vec<Value>, String> {
    if types.len() != 1 {
        return decode_all(&blob, types);
    }
    if blob.len() < 8 {
        return Err("truncated entry".into());
    }
    let len = u64::from_le_bytes(blob[blob.len() - 8..].try_into().expect("8 bytes"));
    if len != (blob.len() - 8) as u64 {
        return Err("truncated entry".into());
    }
    blob.truncate(blob.len() - 8);
    Ok(vec![types[0].decode_owned(blob)?])
}

/// Decodes a blob made by [`encode_all_into`].
pub(crate) fn decode_all(blob: &[u8], types: &[Arc<dyn ValueType>]) -> Result<Vec<Value>, String> {
    let footer = 8 * types.len();
    if blob.len() < footer {
        return Err("truncated entry".into());
    }
    let (mut body, lengths) = blob.split_at(blob.len() - footer);
    let mut values = Vec::with_capacity(types.len());
    for (t, len) in types.iter().zip(lengths.chunks_exact(8)) {
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
        if (body.len() as u64) < len {
            return Err("truncated entry".into());
        }
        let (bytes, rest) = body.split_at(len as usize);
        values.push(t.decode(bytes)?);
        body = rest;
    }
    if !body.is_empty() {
        return Err("trailing bytes in entry".into());
    }
    Ok(values)
}
