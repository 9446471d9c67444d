//! An in-process cache holding the values themselves (no encoding).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{Cache, Key};
use crate::value::{Value, ValueType};

/// Keeps node results in memory for the life of the process (or of this object).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use hypernodes::{inputs, node, MemoryCache, Pipeline, Setting};
///
/// static CALLS: AtomicUsize = AtomicUsize::new(0);
///
/// #[node(output = "squared")]
/// fn square(x: i64) -> i64 {
///     CALLS.fetch_add(1, Ordering::SeqCst);
///     x * x
/// }
///
/// let p = Pipeline::new([square::node()])?.with_cache(Setting::On(Arc::new(MemoryCache::new())));
/// for _ in 0..3 {
///     let out = p.run(inputs! {"x" => 7_i64}, None)?;
///     assert_eq!(out.get::<i64>("squared"), Some(&49));
/// }
/// assert_eq!(CALLS.load(Ordering::SeqCst), 1); // computed once, then served from memory
/// # Ok::<(), hypernodes::Error>(())
/// ```
#[derive(Default)]
pub struct MemoryCache {
    entries: RwLock<HashMap<Key, Vec<Value>>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.read().expect("cache lock poisoned").len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every entry (to ship them to worker processes).
    pub fn entries(&self) -> Vec<(Key, Vec<Value>)> {
        let map = self.entries.read().expect("cache lock poisoned");
        map.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// Adds entries (from worker processes); existing keys keep their values.
    pub fn extend(&self, entries: impl IntoIterator<Item = (Key, Vec<Value>)>) {
        let mut map = self.entries.write().expect("cache lock poisoned");
        for (k, v) in entries {
            map.entry(k).or_insert(v);
        }
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.entries.write().expect("cache lock poisoned").clear();
    }
}

impl Cache for MemoryCache {
    fn get(&self, key: &Key, _types: &[Arc<dyn ValueType>]) -> Option<Vec<Value>> {
        self.entries
            .read()
            .expect("cache lock poisoned")
            .get(key)
            .cloned()
    }

    fn put(
        &self,
        key: &Key,
        values: &[Value],
        _types: &[Arc<dyn ValueType>],
    ) -> Result<(), String> {
        self.entries
            .write()
            .expect("cache lock poisoned")
            .insert(*key, values.to_vec());
        Ok(())
    }
}
