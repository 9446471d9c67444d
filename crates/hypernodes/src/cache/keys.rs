//! Cache keys: blake3 over tagged fields. A node's key covers its name, code identity, output names,
//! the keys of its inputs and (for a pipeline node) the inner pipeline, its mappings, map settings and
//! the outputs requested, so no change to any of them can return a stale result.

use crate::node::{Node, NodeKind};
use crate::pipeline::Pipeline;
use crate::value::{Value, ValueType};

/// A cache key (a blake3 digest).
pub type Key = [u8; 32];

/// A blake3 hasher with length-prefixed, tagged fields (no two field sequences share an encoding).
pub(crate) struct KeyHasher(blake3::Hasher);

impl Default for KeyHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyHasher {
    /// A fresh hasher.
    pub(crate) fn new() -> Self {
        KeyHasher(blake3::Hasher::new())
    }

    /// Adds one tagged field.
    pub(crate) fn field(&mut self, tag: &str, bytes: &[u8]) -> &mut Self {
        self.0.update(&(tag.len() as u64).to_le_bytes());
        self.0.update(tag.as_bytes());
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// The key.
    pub(crate) fn finish(&self) -> Key {
        *self.0.finalize().as_bytes()
    }
}

/// The identity of a node's code: its pinned version, its function's code identity, or (for a pipeline
/// node) the inner pipeline's identity plus its mappings and map settings. `None` when a bound value of
/// an inner pipeline cannot be hashed.
pub fn node_identity(node: &Node) -> Option<Key> {
    // nested pipelines are followed to any depth: the stack grows on the heap when short
    crate::stack::with_stack(|| node.identity_memo(|| compute_node_identity(node)))
}

fn compute_node_identity(node: &Node) -> Option<Key> {
    let mut h = KeyHasher::new();
    h.field("name", node.name().as_bytes());
    for p in node.params() {
        h.field("param", p.name.as_bytes());
    }
    for o in node.outputs() {
        h.field("output", o.name.as_bytes());
    }
    if let Some(v) = node.version() {
        h.field("version", v.as_bytes());
        return Some(h.finish());
    }
    match node.kind() {
        NodeKind::Func(f) => {
            h.field("code", &f.code_identity());
        }
        NodeKind::Pipeline(pn) => {
            h.field("pipeline", &pipeline_identity(&pn.pipeline)?);
            for (i, o) in pn.inner_inputs.iter().zip(node.params()) {
                h.field("in", i.as_bytes()).field("as", o.name.as_bytes());
            }
            for o in &pn.inner_outputs {
                h.field("out", o.as_bytes());
            }
            for m in &pn.map_over {
                h.field("map_over", m.as_bytes());
            }
            h.field("map_mode", pn.map_mode.as_str().as_bytes());
        }
    }
    Some(h.finish())
}

/// Whether a node must run every time it is reached: a function node with `cache=false`, or a
/// pipeline node whose pipeline switches caching off or holds such a node at any depth (so it is
/// never served whole from a cache).
pub fn always_runs(node: &Node) -> bool {
    match node.kind() {
        NodeKind::Func(_) => !node.cache(),
        NodeKind::Pipeline(pn) => {
            matches!(pn.pipeline.cache_setting(), crate::pipeline::Setting::Off)
                || pn.pipeline.nodes().iter().any(always_runs)
        }
    }
}

/// The identity of a whole pipeline: every node's identity and cache flag, and its bound values.
pub(super) fn pipeline_identity(pipeline: &Pipeline) -> Option<Key> {
    pipeline.identity_memo(|| {
        let mut h = KeyHasher::new();
        for n in pipeline.nodes() {
            h.field("node", &node_identity(n)?);
            h.field("cache", &[n.cache() as u8]);
        }
        for (name, v) in pipeline.bound() {
            let key = input_key(name, &*pipeline.input_type(name), v)?;
            h.field("bound", name.as_bytes()).field("value", &key);
        }
        Some(h.finish())
    })
}

/// The key of a root input or bound value: its value's canonical hash. `None` when the value
/// cannot be hashed, with one warning per input and type naming both and how to make the type
/// hashable; the nodes that read it then run uncached (their outputs are keyed by value).
pub fn input_key(name: &str, ty: &dyn ValueType, value: &Value) -> Option<Key> {
    match ty.hash(value) {
        Ok(k) => Some(k),
        Err(msg) => {
            crate::warn::warn_once(
                &format!("unhashable input\0{name}"),
                &format!(
                    "input '{name}' cannot be hashed for a cache key, so the nodes that read it \
                     are not cached: {msg}"
                ),
            );
            None
        }
    }
}

/// A node's key for one call: its identity, the keys of its inputs, and the outputs requested.
pub(crate) fn node_key(identity: &Key, input_keys: &[Key], wanted: Option<&[usize]>) -> Key {
    let mut h = KeyHasher::new();
    h.field("identity", identity);
    for k in input_keys {
        h.field("input", k);
    }
    if let Some(w) = wanted {
        for p in w {
            h.field("wanted", &(*p as u64).to_le_bytes());
        }
    }
    h.finish()
}

/// The key of output `pos` of a node call with key `node`.
pub(crate) fn output_key(node: &Key, pos: usize) -> Key {
    let mut h = KeyHasher::new();
    h.field("of", node)
        .field("pos", &(pos as u64).to_le_bytes());
    h.finish()
}
