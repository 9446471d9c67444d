//! Nodes: a function (or a nested pipeline) with named parameters and named outputs.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{BoxError, Error, Result};
use crate::map::MapMode;
use crate::pipeline::Pipeline;
use crate::value::{Value, ValueType};

/// A named parameter or output of a node, with the type of the values it holds.
#[derive(Clone, Debug)]
pub struct Port {
    /// The name that wires it: a parameter takes the output of the same name.
    pub name: Arc<str>,
    /// The type of its values.
    pub ty: Arc<dyn ValueType>,
    /// The value used when a root input is neither given nor bound (a parameter's default).
    pub default: Option<Value>,
}

impl Port {
    /// A port named `name` holding values of type `ty`.
    pub fn new(name: impl Into<Arc<str>>, ty: Arc<dyn ValueType>) -> Self {
        Port {
            name: name.into(),
            ty,
            default: None,
        }
    }

    /// The same port with a default value.
    pub fn with_default(mut self, default: Value) -> Self {
        self.default = Some(default);
        self
    }
}

/// The callable behind a function node. Fronts implement it: Rust functions via `#[node]`,
/// Python callables in the binding crate.
pub trait NodeFn: std::any::Any + Send + Sync {
    /// Calls the function with one value per parameter, in parameter order, and returns one value per
    /// declared output (a single-output node returns one value).
    fn call(&self, args: Vec<Value>) -> std::result::Result<Vec<Value>, BoxError>;
    /// A stable identity of the function's code, used in cache keys (source hash, closure values).
    fn code_identity(&self) -> Vec<u8> {
        Vec::new()
    }
    /// The function's batch implementation, when it has one (a dual node): a map calls it on
    /// batches of items instead of calling [`NodeFn::call`] once per item.
    fn batch(&self) -> Option<&dyn BatchFn> {
        None
    }
}

/// One argument of a batch call.
#[derive(Clone, Debug)]
pub enum BatchArg {
    /// The batch's values of a parameter that varies per item, in item order.
    Items(Vec<Value>),
    /// The one value of a parameter that every item of the map shares.
    Shared(Value),
}

/// The batch implementation of a node (see [`NodeFn::batch`]).
pub trait BatchFn: Send + Sync {
    /// Calls it on a batch of `len` items, one argument per parameter (in parameter order), and
    /// returns the items' outputs: `len` rows, each with one value per declared output.
    fn call_batch(
        &self,
        args: Vec<BatchArg>,
        len: usize,
    ) -> std::result::Result<Vec<Vec<Value>>, BoxError>;
    /// The most items one call receives.
    fn batch_size(&self) -> usize;
    /// Whether it also takes whole columns ([`BatchFn::call_columns`]): a map over a pipeline of
    /// such nodes then passes list values straight through, never splitting them into items.
    fn columnar(&self) -> bool {
        false
    }
    /// Calls it on a batch of `len` items given as columns: per parameter (in parameter order), a
    /// list value of the port's type holding the batch's values ([`ColumnArg::Column`]) or the
    /// value every item shares. Returns one list value per declared output, each of `len` items
    /// (the engine checks the lengths). Only called when [`BatchFn::columnar`] says so.
    fn call_columns(
        &self,
        args: Vec<ColumnArg>,
        len: usize,
    ) -> std::result::Result<Vec<Value>, BoxError> {
        let _ = (args, len);
        Err("this batch function does not take columns".into())
    }
}

/// One argument of a columnar batch call ([`BatchFn::call_columns`]).
#[derive(Clone, Debug)]
pub enum ColumnArg {
    /// The batch's values of a parameter that varies per item: one list value, in item order.
    Column(Value),
    /// The one value of a parameter that every item of the map shares.
    Shared(Value),
}

/// The batch size of a dual node when none is given.
pub const DEFAULT_BATCH_SIZE: usize = 256;

/// A node function with two implementations: `single` for one item (a run, or a map item that
/// cannot be batched), `batch` for a batch of items of a map. Both must give the same results.
pub struct Dual<S, B> {
    /// Called once per item.
    pub single: S,
    /// Called on a batch of items: `(args, len) -> rows`.
    pub batch: B,
    /// The most items per batch call.
    pub batch_size: usize,
}

impl<S, B> NodeFn for Dual<S, B>
where
    S: NodeFn,
    B: Fn(Vec<BatchArg>, usize) -> std::result::Result<Vec<Vec<Value>>, BoxError>
        + Send
        + Sync
        + 'static,
{
    fn call(&self, args: Vec<Value>) -> std::result::Result<Vec<Value>, BoxError> {
        self.single.call(args)
    }
    fn code_identity(&self) -> Vec<u8> {
        self.single.code_identity()
    }
    fn batch(&self) -> Option<&dyn BatchFn> {
        Some(self)
    }
}

impl<S, B> BatchFn for Dual<S, B>
where
    S: NodeFn,
    B: Fn(Vec<BatchArg>, usize) -> std::result::Result<Vec<Vec<Value>>, BoxError>
        + Send
        + Sync
        + 'static,
{
    fn call_batch(
        &self,
        args: Vec<BatchArg>,
        len: usize,
    ) -> std::result::Result<Vec<Vec<Value>>, BoxError> {
        (self.batch)(args, len)
    }
    fn batch_size(&self) -> usize {
        self.batch_size.max(1)
    }
}

impl<F> NodeFn for F
where
    F: Fn(Vec<Value>) -> std::result::Result<Vec<Value>, BoxError> + Send + Sync + 'static,
{
    fn call(&self, args: Vec<Value>) -> std::result::Result<Vec<Value>, BoxError> {
        self(args)
    }
}

/// A pipeline used as a node: how its inputs and outputs are named outside, and whether it is mapped.
#[derive(Clone)]
pub struct PipelineNode {
    /// The inner pipeline.
    pub pipeline: Pipeline,
    /// For each parameter of the node (outer name, in port order), the inner input it feeds.
    pub inner_inputs: Vec<Arc<str>>,
    /// For each output of the node (in port order), the inner output it exposes.
    pub inner_outputs: Vec<Arc<str>>,
    /// Only these inner outputs are computed (`None`: all of them).
    pub selected: Option<Vec<String>>,
    /// Inner names of the inputs mapped over (empty: run once).
    pub map_over: Vec<String>,
    /// How mapped parameters combine.
    pub map_mode: MapMode,
    /// The settings the node was made with (to rebuild it elsewhere).
    pub spec: crate::pipeline::AsNode,
}

/// What a node runs.
#[derive(Clone)]
pub enum NodeKind {
    /// A plain function.
    Func(Arc<dyn NodeFn>),
    /// A nested pipeline.
    Pipeline(Box<PipelineNode>),
}

#[derive(Clone)]
struct NodeInner {
    name: Arc<str>,
    params: Vec<Port>,
    outputs: Vec<Port>,
    cache: bool,
    version: Option<String>,
    kind: NodeKind,
    /// The cache identity, computed on first use (reset whenever the node is edited).
    identity: std::sync::OnceLock<Option<crate::cache::Key>>,
}

/// A step of a pipeline. Cheap to clone (shared).
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name())
            .field("params", &self.param_names().collect::<Vec<_>>())
            .field("outputs", &self.output_names().collect::<Vec<_>>())
            .finish()
    }
}

impl Node {
    /// A function node. `outputs` must not be empty; parameter and output names must be unique.
    pub fn new(
        name: impl Into<Arc<str>>,
        params: Vec<Port>,
        outputs: Vec<Port>,
        func: impl NodeFn,
    ) -> Result<Node> {
        Self::from_parts(name.into(), params, outputs, NodeKind::Func(Arc::new(func)))
    }

    /// A dual node: `single` runs one item (a run), `batch` runs a batch of at most `batch_size`
    /// items of a map (`(args, len) -> rows`, see [`BatchFn::call_batch`]).
    pub fn dual<S, B>(
        name: impl Into<Arc<str>>,
        params: Vec<Port>,
        outputs: Vec<Port>,
        single: S,
        batch: B,
        batch_size: usize,
    ) -> Result<Node>
    where
        S: NodeFn,
        B: Fn(Vec<BatchArg>, usize) -> std::result::Result<Vec<Vec<Value>>, BoxError>
            + Send
            + Sync
            + 'static,
    {
        if batch_size == 0 {
            return Err(Error::Config("batch_size must be at least 1, got 0".into()));
        }
        let f = Dual {
            single,
            batch,
            batch_size,
        };
        Self::from_parts(name.into(), params, outputs, NodeKind::Func(Arc::new(f)))
    }

    /// A function node from an already shared callable.
    pub fn from_fn(
        name: impl Into<Arc<str>>,
        params: Vec<Port>,
        outputs: Vec<Port>,
        func: Arc<dyn NodeFn>,
    ) -> Result<Node> {
        Self::from_parts(name.into(), params, outputs, NodeKind::Func(func))
    }

    pub(crate) fn from_parts(
        name: Arc<str>,
        params: Vec<Port>,
        outputs: Vec<Port>,
        kind: NodeKind,
    ) -> Result<Node> {
        if name.is_empty() {
            return Err(Error::Config("a node needs a non-empty name".into()));
        }
        if outputs.is_empty() {
            return Err(Error::Config(format!("node '{name}' declares no outputs")));
        }
        check_unique(&name, "output", outputs.iter().map(|p| &p.name))?;
        check_unique(&name, "parameter", params.iter().map(|p| &p.name))?;
        Ok(Node {
            inner: Arc::new(NodeInner {
                name,
                params,
                outputs,
                cache: true,
                version: None,
                kind,
                identity: std::sync::OnceLock::new(),
            }),
        })
    }

    fn edit(mut self, f: impl FnOnce(&mut NodeInner)) -> Node {
        let inner = Arc::make_mut(&mut self.inner);
        f(inner);
        inner.identity = std::sync::OnceLock::new();
        self
    }

    /// Memoizes the node's cache identity (its code and settings never change once built).
    pub(crate) fn identity_memo(
        &self,
        f: impl FnOnce() -> Option<crate::cache::Key>,
    ) -> Option<crate::cache::Key> {
        crate::memo::memoize(&self.inner.identity, f)
    }

    /// The same node under another name.
    pub fn with_name(self, name: impl Into<Arc<str>>) -> Node {
        let name = name.into();
        self.edit(|n| n.name = name)
    }

    /// Turns caching of this node on or off (on by default).
    pub fn with_cache(self, cache: bool) -> Node {
        self.edit(|n| n.cache = cache)
    }

    /// Pins the code version used in cache keys, instead of the code's own hash.
    pub fn with_version(self, version: impl Into<String>) -> Node {
        let version = Some(version.into());
        self.edit(|n| n.version = version)
    }

    /// The node's name (unique within a pipeline).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The parameters, in call order.
    pub fn params(&self) -> &[Port] {
        &self.inner.params
    }

    /// The outputs, in return order.
    pub fn outputs(&self) -> &[Port] {
        &self.inner.outputs
    }

    /// Parameter names in call order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.inner.params.iter().map(|p| &*p.name)
    }

    /// Output names in return order.
    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.inner.outputs.iter().map(|p| &*p.name)
    }

    /// Whether results of this node are cached.
    pub fn cache(&self) -> bool {
        self.inner.cache
    }

    /// The pinned code version, if any.
    pub fn version(&self) -> Option<&str> {
        self.inner.version.as_deref()
    }

    /// What the node runs.
    pub fn kind(&self) -> &NodeKind {
        &self.inner.kind
    }

    /// The node's batch implementation, when it is a dual node (see [`NodeFn::batch`]).
    pub fn batch_fn(&self) -> Option<&dyn BatchFn> {
        match &self.inner.kind {
            NodeKind::Func(f) => f.batch(),
            NodeKind::Pipeline(_) => None,
        }
    }
}

fn check_unique<'a>(
    node: &str,
    what: &str,
    names: impl Iterator<Item = &'a Arc<str>>,
) -> Result<()> {
    let mut seen = BTreeMap::new();
    for n in names {
        if seen.insert(n.clone(), ()).is_some() {
            return Err(Error::Config(format!(
                "node '{node}' declares the {what} '{n}' twice"
            )));
        }
    }
    Ok(())
}

/// An argument of a `#[node]` function taken by value: moved out of its shared pointer when the call
/// holds the only reference, cloned otherwise; `None` when it is not a `T`. (Used by the code
/// `#[node]` generates.)
#[doc(hidden)]
pub fn take_arg<T: Clone + Send + Sync + 'static>(v: Value) -> Option<T> {
    let typed: Arc<T> = v.downcast::<T>().ok()?;
    Some(Arc::try_unwrap(typed).unwrap_or_else(|shared| (*shared).clone()))
}
