//! Pipelines: a validated set of nodes, their bound values and their run settings.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

use crate::cache::{Cache, Key};
use crate::callbacks::Callbacks;

use crate::error::{Error, MapError, MissingInput, Result};
use crate::executor::{self, Executor};
use crate::graph::Graph;
use crate::io::{Inputs, Outputs};
use crate::map::MapMode;
use crate::node::{Node, NodeKind, PipelineNode, Port};
use crate::value::{AnyType, Value, ValueType};

/// What part of a pipeline a run executes: the nodes, the root inputs they need, the values returned.
#[derive(Debug)]
pub struct Plan {
    /// Node indices in topological order.
    pub nodes: Vec<usize>,
    /// Value ids of the root inputs needed, sorted by name.
    pub inputs: Vec<usize>,
    /// Value ids returned, in pipeline order (or in the order requested).
    pub outputs: Vec<usize>,
    /// Nodes of which only some outputs are needed: node index -> needed output positions.
    /// A pipeline node computes only those (its other outputs are never read).
    pub narrowed: HashMap<usize, Vec<usize>>,
    /// For each node of `nodes` (same order): the node outputs it is the last reader of (and that
    /// the plan does not return). A sequential run lets go of them when it calls that node, so a
    /// node taking such a value by value gets it without a copy.
    pub release: Vec<Vec<usize>>,
}

/// [`Plan::release`] of a plan running `nodes` (in order) and returning `outputs`.
fn last_readers(g: &Graph, nodes: &[usize], outputs: &[usize]) -> Vec<Vec<usize>> {
    let mut last: HashMap<usize, usize> = HashMap::new();
    for (i, &n) in nodes.iter().enumerate() {
        for &v in g.node_inputs[n].iter() {
            if g.producer[v].is_some() && !outputs.contains(&v) {
                last.insert(v, i);
            }
        }
    }
    let mut release = vec![Vec::new(); nodes.len()];
    for (v, i) in last {
        release[i].push(v);
    }
    release
}

impl Plan {
    /// The output positions of node `n` that this plan needs (`None`: all of them).
    pub(crate) fn wanted(&self, n: usize) -> Option<&[usize]> {
        self.narrowed.get(&n).map(Vec::as_slice)
    }
}

/// How a pipeline node is made from a pipeline (see [`Pipeline::as_node`]).
#[derive(Clone, Debug, Default)]
pub struct AsNode {
    /// The node's name (default: the pipeline's name).
    pub name: Option<String>,
    /// `{outer: inner}` renames of inputs; unmapped inputs keep their names.
    pub input_mapping: BTreeMap<String, String>,
    /// `{inner: outer}`: when given, only these outputs are exposed (and computed), renamed.
    pub output_mapping: Option<BTreeMap<String, String>>,
    /// Outer input names to map over.
    pub map_over: Vec<String>,
    /// How mapped inputs combine.
    pub map_mode: MapMode,
    /// Whether the node's results are cached as a whole.
    pub cache: Option<bool>,
}

/// A per-pipeline setting: inherited from the enclosing pipeline, switched off, or set.
#[derive(Clone, Default)]
pub enum Setting<T> {
    /// Use the enclosing pipeline's (the root's default when there is none).
    #[default]
    Inherit,
    /// Off for this pipeline and below (unless a nested pipeline sets its own).
    Off,
    /// Set here.
    On(T),
}

/// How a pipeline runs: executor, cache and callbacks (each inherited when not set).
#[derive(Clone, Default)]
pub struct Settings {
    /// The executor (`None`: inherited).
    pub executor: Option<Arc<dyn Executor>>,
    /// The cache.
    pub cache: Setting<Arc<dyn Cache>>,
    /// The callbacks.
    pub callbacks: Setting<Arc<Callbacks>>,
    /// A token that stops a run or map of this pipeline started as a root (see [`CancelToken`](crate::CancelToken)).
    pub cancel: Option<crate::context::CancelToken>,
}

struct PipelineInner {
    name: Arc<str>,
    nodes: Arc<[Node]>,
    graph: Arc<Graph>,
    bound: BTreeMap<String, Value>,
    settings: Settings,
    full_plan: Arc<Plan>,
    plans: RwLock<HashMap<Vec<String>, Arc<Plan>>>,
    identity: OnceLock<Option<Key>>,
}

/// An immutable, validated DAG of nodes. Cheap to clone (shared).
///
/// Nodes are wired by name: a parameter takes the output of the same name, and parameters no node
/// produces are the pipeline's inputs. Building checks the wiring (duplicate outputs, cycles, types);
/// a run checks the inputs given (names and types) before any node runs.
///
/// ```
/// use hypernodes::{inputs, node, Error, Pipeline};
///
/// #[node(output = "words")]
/// fn split(text: String) -> Vec<String> {
///     text.split_whitespace().map(String::from).collect()
/// }
///
/// #[node(output = "count")]
/// fn count(words: &Vec<String>) -> usize {
///     words.len()
/// }
///
/// let p = Pipeline::new([split::node(), count::node()])?.with_name("wc");
/// assert_eq!(p.inputs(), ["text"]);
/// assert_eq!(p.outputs(), ["words", "count"]);
/// let out = p.run(inputs! {"text" => "a b c".to_string()}, None)?;
/// assert_eq!(out.try_get::<usize>("count")?, &3);
///
/// // a value of the wrong type is refused before any node runs
/// let err = p.run(inputs! {"text" => "a b c"}, None).unwrap_err();
/// assert!(matches!(err, Error::InputType { .. }));
/// assert_eq!(err.to_string(), "input 'text': node 'split' takes String, got &str");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<PipelineInner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name())
            .field(
                "nodes",
                &self.inner.nodes.iter().map(Node::name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Pipeline {
    /// Builds and validates a pipeline from nodes in any order. Errors on two producers of one
    /// output, cycles, and (for typed nodes) a parameter whose type differs from its producer's.
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Result<Pipeline> {
        let mut nodes: Vec<Node> = nodes.into_iter().collect();
        nodes.sort_by(|a, b| a.name().cmp(b.name()));
        let graph = Arc::new(Graph::build(&nodes)?);
        let name = default_name(&nodes);
        Ok(Self::assemble(
            name,
            nodes.into(),
            graph,
            BTreeMap::new(),
            Settings::default(),
        ))
    }

    fn assemble(
        name: Arc<str>,
        nodes: Arc<[Node]>,
        graph: Arc<Graph>,
        bound: BTreeMap<String, Value>,
        settings: Settings,
    ) -> Pipeline {
        let outputs: Vec<usize> = graph
            .order
            .iter()
            .flat_map(|&n| graph.node_outputs[n].iter().copied())
            .collect();
        let full_plan = Arc::new(Plan {
            nodes: graph.order.clone(),
            inputs: graph.root_inputs.clone(),
            release: last_readers(&graph, &graph.order, &outputs),
            outputs,
            narrowed: HashMap::new(),
        });
        Pipeline {
            inner: Arc::new(PipelineInner {
                name,
                nodes,
                graph,
                bound,
                settings,
                full_plan,
                plans: RwLock::new(HashMap::new()),
                identity: OnceLock::new(),
            }),
        }
    }

    /// A copy with some fields changed; nodes and graph are shared.
    fn derive(
        &self,
        name: Arc<str>,
        bound: BTreeMap<String, Value>,
        settings: Settings,
    ) -> Pipeline {
        Self::assemble(
            name,
            self.inner.nodes.clone(),
            self.inner.graph.clone(),
            bound,
            settings,
        )
    }

    /// The same pipeline under another name.
    pub fn with_name(&self, name: impl Into<Arc<str>>) -> Pipeline {
        self.derive(
            name.into(),
            self.inner.bound.clone(),
            self.inner.settings.clone(),
        )
    }

    /// The same pipeline with its own executor (`None`: inherit the enclosing one).
    pub fn with_executor(&self, executor: Option<Arc<dyn Executor>>) -> Pipeline {
        let settings = Settings {
            executor,
            ..self.inner.settings.clone()
        };
        self.derive(self.inner.name.clone(), self.inner.bound.clone(), settings)
    }

    /// The same pipeline with another cache setting.
    pub fn with_cache(&self, cache: Setting<Arc<dyn Cache>>) -> Pipeline {
        let settings = Settings {
            cache,
            ..self.inner.settings.clone()
        };
        self.derive(self.inner.name.clone(), self.inner.bound.clone(), settings)
    }

    /// The same pipeline with another callbacks setting.
    pub fn with_callbacks(&self, callbacks: Setting<Arc<Callbacks>>) -> Pipeline {
        let settings = Settings {
            callbacks,
            ..self.inner.settings.clone()
        };
        self.derive(self.inner.name.clone(), self.inner.bound.clone(), settings)
    }

    /// The same pipeline stopped by `token`: once [`CancelToken::cancel`] is called (from another
    /// thread, a signal handler, a callback), a run or map of it started as a root starts no new
    /// node or item and returns [`Error::Interrupted`].
    ///
    /// [`CancelToken::cancel`]: crate::context::CancelToken::cancel
    pub fn with_cancel_token(&self, token: crate::context::CancelToken) -> Pipeline {
        let settings = Settings {
            cancel: Some(token),
            ..self.inner.settings.clone()
        };
        self.derive(self.inner.name.clone(), self.inner.bound.clone(), settings)
    }

    /// The cancel token of runs started from this pipeline, if any.
    pub fn cancel_token(&self) -> Option<&crate::context::CancelToken> {
        self.inner.settings.cancel.as_ref()
    }

    /// The cache setting.
    pub fn cache_setting(&self) -> &Setting<Arc<dyn Cache>> {
        &self.inner.settings.cache
    }

    /// The callbacks setting.
    pub fn callbacks_setting(&self) -> &Setting<Arc<Callbacks>> {
        &self.inner.settings.callbacks
    }

    /// Memoizes the pipeline's cache identity.
    pub(crate) fn identity_memo(&self, f: impl FnOnce() -> Option<Key>) -> Option<Key> {
        crate::memo::memoize(&self.inner.identity, f)
    }

    /// The pipeline's name (a deterministic default derived from its nodes when not set).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The pipeline's name, shared.
    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.inner.name
    }

    /// The nodes, sorted by name.
    pub fn nodes(&self) -> &[Node] {
        &self.inner.nodes
    }

    /// The wiring.
    pub fn graph(&self) -> &Graph {
        &self.inner.graph
    }

    /// The executor set on this pipeline, if any.
    pub fn executor(&self) -> Option<&Arc<dyn Executor>> {
        self.inner.settings.executor.as_ref()
    }

    /// Values bound to inputs.
    pub fn bound(&self) -> &BTreeMap<String, Value> {
        &self.inner.bound
    }

    /// Required root inputs (neither bound nor defaulted), sorted.
    pub fn inputs(&self) -> Vec<String> {
        self.unbound_inputs(&self.inner.full_plan)
            .into_iter()
            .filter(|n| self.input_default(n).is_none())
            .collect()
    }

    /// Root inputs that are not bound but have a default, sorted.
    pub fn optional_inputs(&self) -> Vec<String> {
        self.unbound_inputs(&self.inner.full_plan)
            .into_iter()
            .filter(|n| self.input_default(n).is_some())
            .collect()
    }

    /// Every root input, bound or not, sorted.
    pub fn all_inputs(&self) -> Vec<String> {
        let g = &self.inner.graph;
        g.root_inputs
            .iter()
            .map(|&v| g.names[v].to_string())
            .collect()
    }

    fn unbound_inputs(&self, plan: &Plan) -> Vec<String> {
        let g = &self.inner.graph;
        plan.inputs
            .iter()
            .map(|&v| &g.names[v])
            .filter(|n| !self.inner.bound.contains_key(&***n))
            .map(|n| n.to_string())
            .collect()
    }

    /// Every output name, in pipeline order.
    pub fn outputs(&self) -> Vec<String> {
        let g = &self.inner.graph;
        self.inner
            .full_plan
            .outputs
            .iter()
            .map(|&v| g.names[v].to_string())
            .collect()
    }

    /// A new pipeline with `values` bound to inputs (overridable by run inputs). Each value is
    /// checked against the type its node takes ([`Error::InputType`]).
    ///
    /// ```
    /// use hypernodes::{inputs, node, value, Pipeline};
    ///
    /// #[node(output = "scaled")]
    /// fn scale(x: f64, factor: f64) -> f64 {
    ///     x * factor
    /// }
    ///
    /// let p = Pipeline::new([scale::node()])?;
    /// let doubled = p.bind([("factor".to_string(), value(2.0_f64))])?;
    /// assert_eq!(doubled.inputs(), ["x"]); // bound inputs are no longer required
    /// let out = doubled.run(inputs! {"x" => 1.5_f64}, None)?;
    /// assert_eq!(out.get::<f64>("scaled"), Some(&3.0));
    /// // a run input overrides the bound value
    /// let out = doubled.run(inputs! {"x" => 1.5_f64, "factor" => 10.0_f64}, None)?;
    /// assert_eq!(out.get::<f64>("scaled"), Some(&15.0));
    /// // a bound value of another type is refused
    /// assert!(p.bind([("factor".to_string(), value(2_i32))]).is_err());
    /// # Ok::<(), hypernodes::Error>(())
    /// ```
    pub fn bind(&self, values: impl IntoIterator<Item = (String, Value)>) -> Result<Pipeline> {
        let mut bound = self.inner.bound.clone();
        for (k, v) in values {
            self.check_input(&k)?;
            self.check_value_type(&k, &v, false)?;
            bound.insert(k, v);
        }
        Ok(self.derive(self.inner.name.clone(), bound, self.inner.settings.clone()))
    }

    /// A new pipeline with the given bound values removed (all of them when `names` is empty).
    pub fn unbind<S: AsRef<str>>(&self, names: &[S]) -> Result<Pipeline> {
        let mut bound = self.inner.bound.clone();
        if names.is_empty() {
            bound.clear();
        }
        for n in names {
            self.check_input(n.as_ref())?;
            bound.remove(n.as_ref());
        }
        Ok(self.derive(self.inner.name.clone(), bound, self.inner.settings.clone()))
    }

    fn check_input(&self, name: &str) -> Result<()> {
        let g = &self.inner.graph;
        match g.ids.get(name) {
            Some(&v) if g.producer[v].is_none() => Ok(()),
            _ => Err(self.unknown_input(name)),
        }
    }

    /// The error for a name that is not an input, suggesting the closest input.
    fn unknown_input(&self, name: &str) -> Error {
        let available = self.all_inputs();
        let suggestion =
            crate::suggest::closest(name, available.iter().map(String::as_str)).map(String::from);
        Error::UnknownInput {
            pipeline: self.name().to_string(),
            name: name.to_string(),
            available,
            suggestion,
        }
    }

    /// Whether `name` is an input or an output of this pipeline (a name `run` may be given).
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.inner.graph.ids.contains_key(name)
    }

    /// Drops the given names that are neither inputs nor outputs of this pipeline (for callers
    /// that pass one shared dict to several pipelines); returns the dropped names, sorted.
    pub fn retain_known(&self, inputs: &mut Inputs) -> Vec<String> {
        let mut dropped: Vec<String> = inputs.keys().filter(|k| !self.knows(k)).cloned().collect();
        dropped.sort();
        for d in &dropped {
            inputs.remove(d);
        }
        dropped
    }

    /// Checks the names given to a run or a map before anything runs: a name that is neither an
    /// input nor an output is an [`Error::UnknownInput`] (unless `ignore_unknown`), and every input
    /// the selected outputs need that is not given, bound or defaulted is reported at once as
    /// [`Error::MissingInputs`], naming the nodes that need it. Names in `later` (the mapped
    /// inputs) count as given.
    pub fn check_inputs(
        &self,
        inputs: &Inputs,
        output_name: Option<&[String]>,
        later: &[String],
        ignore_unknown: bool,
    ) -> Result<()> {
        if !ignore_unknown {
            let mut unknown: Vec<&String> = inputs.keys().filter(|k| !self.knows(k)).collect();
            unknown.sort();
            if let Some(first) = unknown.first() {
                return Err(self.unknown_input(first));
            }
        }
        let plan = self.plan(output_name)?;
        let g = &self.inner.graph;
        let missing: Vec<String> = plan
            .inputs
            .iter()
            .map(|&v| &*g.names[v])
            .filter(|name| {
                !later.iter().any(|l| l == name)
                    && !inputs.contains_key(*name)
                    && !self.inner.bound.contains_key(*name)
                    && self.input_default(name).is_none()
            })
            .map(String::from)
            .collect();
        if !missing.is_empty() {
            return Err(self.missing_inputs(&plan, missing, inputs));
        }
        let mut given: Vec<(&String, &Value)> = inputs.iter().collect();
        given.sort_by(|a, b| a.0.cmp(b.0));
        for (name, v) in given {
            self.check_value_type(name, v, later.iter().any(|l| l == name))?;
        }
        Ok(())
    }

    /// Checks a value given for `name` (an input, or an output given to skip its producer)
    /// against the type the pipeline takes there; `mapped`: the value is a list of such values.
    /// Ports of dynamic fronts (no `TypeId`) accept anything.
    fn check_value_type(&self, name: &str, v: &Value, mapped: bool) -> Result<()> {
        let g = &self.inner.graph;
        let Some(&id) = g.ids.get(name) else {
            return Ok(()); // an unknown name allowed by the caller
        };
        let (node, ty) = match g.producer[id] {
            Some((n, pos)) => (n, &self.inner.nodes[n].outputs()[pos].ty),
            None => {
                let Some(&n) = g.consumers[id].first() else {
                    return Ok(());
                };
                let pos = g.node_inputs[n]
                    .iter()
                    .position(|&w| w == id)
                    .expect("a consumer takes the value");
                (n, &self.inner.nodes[n].params()[pos].ty)
            }
        };
        let want = if mapped { ty.list_type() } else { ty.clone() };
        let Some(want_id) = want.type_id() else {
            return Ok(());
        };
        let got = (**v).type_id();
        if got == want_id || (mapped && got == std::any::TypeId::of::<Vec<Value>>()) {
            return Ok(());
        }
        let known: Vec<&dyn ValueType> = self
            .inner
            .nodes
            .iter()
            .flat_map(|n| n.params().iter().chain(n.outputs()))
            .map(|p| &*p.ty)
            .collect();
        let given = crate::value::name_of(v, &known)
            .unwrap_or_else(|| "a value of another type".to_string());
        Err(Error::InputType {
            input: name.to_string(),
            node: self.inner.nodes[node].name().to_string(),
            expected: crate::value::short_type_name(ty.type_name()),
            given,
            mapped,
        })
    }

    /// The error for inputs a run needs and did not get: for each, the nodes of `plan` that need
    /// it and a close name the caller may have meant (a given name the plan does not use, or an
    /// output: a typo in a parameter name turns it into a pipeline input).
    fn missing_inputs(&self, plan: &Plan, missing: Vec<String>, inputs: &Inputs) -> Error {
        let g = &self.inner.graph;
        let unused: Vec<&str> = inputs
            .keys()
            .map(String::as_str)
            .filter(|k| g.ids.get(*k).is_none_or(|&v| !plan.inputs.contains(&v)))
            .collect();
        let outputs = self.outputs();
        let details = missing
            .iter()
            .map(|name| {
                let v = g.ids[name.as_str()];
                let needed_by = g.consumers[v]
                    .iter()
                    .filter(|n| plan.nodes.contains(n))
                    .map(|&n| self.inner.nodes[n].name().to_string())
                    .collect();
                let suggestion = match crate::suggest::closest(name, unused.iter().copied()) {
                    Some(given) => Some((given.to_string(), None)),
                    None => {
                        crate::suggest::closest(name, outputs.iter().map(String::as_str)).map(|o| {
                            let producer = g.producer[g.ids[o]].map(|(n, _)| n);
                            let producer = producer.map(|n| self.inner.nodes[n].name().to_string());
                            (o.to_string(), producer)
                        })
                    }
                };
                MissingInput {
                    needed_by,
                    suggestion,
                }
            })
            .collect();
        Error::MissingInputs {
            pipeline: self.name().to_string(),
            missing,
            details,
        }
    }

    /// The port of a root input's first consumer (its type and default).
    fn input_port(&self, name: &str) -> Option<&Port> {
        let g = &self.inner.graph;
        let v = *g.ids.get(name)?;
        let n = *g.consumers[v].first()?;
        let pos = g.node_inputs[n].iter().position(|&w| w == v)?;
        Some(&self.inner.nodes[n].params()[pos])
    }

    /// The port type of a root input: that of its first consumer.
    pub(crate) fn input_type(&self, name: &str) -> Arc<dyn ValueType> {
        self.input_port(name)
            .map(|p| p.ty.clone())
            .unwrap_or_else(|| Arc::new(AnyType))
    }

    /// The default of a root input: that of its first consumer, if any.
    pub(crate) fn input_default(&self, name: &str) -> Option<&Value> {
        self.input_port(name)?.default.as_ref()
    }

    /// The port type of an output: that of its producer.
    pub(crate) fn output_type(&self, name: &str) -> Arc<dyn ValueType> {
        let g = &self.inner.graph;
        g.ids
            .get(name)
            .and_then(|&v| {
                let (n, pos) = g.producer[v]?;
                Some(self.inner.nodes[n].outputs()[pos].ty.clone())
            })
            .unwrap_or_else(|| Arc::new(AnyType))
    }

    /// The plan for a selection of outputs (`None`: everything). Plans are memoized.
    pub fn plan(&self, output_name: Option<&[String]>) -> Result<Arc<Plan>> {
        let Some(selected) = output_name else {
            return Ok(self.inner.full_plan.clone());
        };
        if let Some(p) = self
            .inner
            .plans
            .read()
            .expect("plan cache poisoned")
            .get(selected)
        {
            return Ok(p.clone());
        }
        let plan = Arc::new(self.build_plan(selected)?);
        self.inner
            .plans
            .write()
            .expect("plan cache poisoned")
            .insert(selected.to_vec(), plan.clone());
        Ok(plan)
    }

    fn build_plan(&self, selected: &[String]) -> Result<Plan> {
        let g = &self.inner.graph;
        let mut outputs = Vec::with_capacity(selected.len());
        let mut needed = vec![false; self.inner.nodes.len()];
        let mut stack = Vec::new();
        for name in selected {
            let producer = g
                .ids
                .get(name.as_str())
                .and_then(|&v| g.producer[v].map(|p| (v, p.0)));
            let Some((v, n)) = producer else {
                return Err(Error::UnknownOutput {
                    pipeline: self.name().to_string(),
                    requested: name.clone(),
                    available: self.outputs(),
                });
            };
            if !outputs.contains(&v) {
                outputs.push(v);
            }
            stack.push(n);
        }
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut needed[n], true) {
                continue;
            }
            stack.extend(g.upstream(n));
        }
        let nodes: Vec<usize> = g.order.iter().copied().filter(|&n| needed[n]).collect();
        let mut inputs: Vec<usize> = nodes
            .iter()
            .flat_map(|&n| g.node_inputs[n].iter().copied())
            .filter(|&v| g.producer[v].is_none())
            .collect();
        inputs.sort_by(|&a, &b| g.names[a].cmp(&g.names[b]));
        inputs.dedup();
        let mut narrowed = HashMap::new();
        for &n in &nodes {
            let outs = &g.node_outputs[n];
            let used: Vec<usize> = (0..outs.len())
                .filter(|&pos| {
                    let v = outs[pos];
                    outputs.contains(&v) || g.consumers[v].iter().any(|&c| needed[c])
                })
                .collect();
            if used.len() < outs.len() {
                narrowed.insert(n, used);
            }
        }
        Ok(Plan {
            release: last_readers(g, &nodes, &outputs),
            nodes,
            inputs,
            outputs,
            narrowed,
        })
    }

    /// Fills the value slots of a run with its root inputs (given ones first, then bound ones).
    /// Inputs in `later` are filled by the caller (mapped values). Every missing input is reported.
    pub fn input_slots(
        &self,
        plan: &Plan,
        inputs: &Inputs,
        later: &[String],
    ) -> Result<Vec<Option<Value>>> {
        let g = &self.inner.graph;
        let mut slots: Vec<Option<Value>> = vec![None; g.names.len()];
        let mut missing = Vec::new();
        for &v in &plan.inputs {
            let name = &*g.names[v];
            if later.iter().any(|l| l == name) {
                continue;
            }
            let found = inputs
                .get(name)
                .or_else(|| self.inner.bound.get(name))
                .or_else(|| self.input_default(name));
            match found {
                Some(val) => slots[v] = Some(val.clone()),
                None => missing.push(name.to_string()),
            }
        }
        if !missing.is_empty() {
            return Err(self.missing_inputs(plan, missing, inputs));
        }
        Ok(slots)
    }

    /// Splits the mapped inputs into items (one value per `map_over` name per item).
    pub fn map_items(
        &self,
        inputs: &Inputs,
        map_over: &[String],
        mode: MapMode,
    ) -> Result<Vec<Vec<Value>>> {
        if map_over.is_empty() {
            return Err(Error::Map(MapError::Empty {
                pipeline: self.name().to_string(),
            }));
        }
        let mut lists = Vec::with_capacity(map_over.len());
        for name in map_over {
            let Some(list) = inputs.get(name).or_else(|| self.inner.bound.get(name)) else {
                return Err(Error::Map(MapError::AbsentInput {
                    pipeline: self.name().to_string(),
                    name: name.clone(),
                }));
            };
            let items = self.input_type(name).split(list).map_err(|reason| {
                Error::Map(MapError::NotASequence {
                    pipeline: self.name().to_string(),
                    name: name.clone(),
                    reason,
                })
            })?;
            lists.push(items);
        }
        crate::map::expand(self.name(), map_over, lists, mode)
    }

    /// Runs the pipeline with its executor (or the default sequential one). `output_name` selects
    /// outputs (only the nodes they need run); `None` returns every output.
    ///
    /// ```
    /// use hypernodes::{inputs, node, Pipeline};
    ///
    /// #[node(output = "sum")]
    /// fn add(a: i64, b: i64) -> i64 {
    ///     a + b
    /// }
    ///
    /// #[node(output = "product")]
    /// fn mul(a: i64, b: i64) -> i64 {
    ///     a * b
    /// }
    ///
    /// let p = Pipeline::new([add::node(), mul::node()])?;
    /// let out = p.run(inputs! {"a" => 3_i64, "b" => 4_i64}, None)?;
    /// assert_eq!(out.get::<i64>("sum"), Some(&7));
    /// let only = p.run(inputs! {"a" => 3_i64, "b" => 4_i64}, Some(&["product".to_string()]))?;
    /// assert_eq!(only.names().collect::<Vec<_>>(), ["product"]);
    /// # Ok::<(), hypernodes::Error>(())
    /// ```
    pub fn run(&self, inputs: Inputs, output_name: Option<&[String]>) -> Result<Outputs> {
        executor::run_root(self, inputs, output_name)
    }

    /// Maps the pipeline over the lists named in `map_over`; one result per item, in item order.
    /// A mapped input is a `Vec` of what its node takes; other inputs are shared by every item.
    ///
    /// ```
    /// use hypernodes::{inputs, node, MapMode, Pipeline};
    ///
    /// #[node(output = "line")]
    /// fn label(name: String, score: i64, unit: String) -> String {
    ///     format!("{name}: {score} {unit}")
    /// }
    ///
    /// let p = Pipeline::new([label::node()])?;
    /// let names = vec!["ann".to_string(), "bob".to_string()];
    /// let scores = vec![3_i64, 5];
    /// let out = p.map(
    ///     inputs! {"name" => names, "score" => scores, "unit" => "pts".to_string()},
    ///     &["name".to_string(), "score".to_string()],
    ///     MapMode::Zip, // pairs items by position; MapMode::Product takes every combination
    ///     None,
    /// )?;
    /// let lines: Vec<&String> = out.iter().map(|o| o.get::<String>("line").unwrap()).collect();
    /// assert_eq!(lines, ["ann: 3 pts", "bob: 5 pts"]);
    /// # Ok::<(), hypernodes::Error>(())
    /// ```
    pub fn map(
        &self,
        inputs: Inputs,
        map_over: &[String],
        mode: MapMode,
        output_name: Option<&[String]>,
    ) -> Result<Vec<Outputs>> {
        executor::map_root(self, inputs, map_over, mode, output_name)
    }

    /// [`Pipeline::map`] whose results may come as columns ([`crate::MapResults`]): with
    /// NodeExecutor, a map over a pipeline of dual nodes that take whole columns, with no cache
    /// and no callbacks in effect, never splits its lists into items (one batch call per batch,
    /// no per-item work). Other maps give rows. The values are those `map` gives.
    pub fn map_columns(
        &self,
        inputs: Inputs,
        map_over: &[String],
        mode: MapMode,
        output_name: Option<&[String]>,
    ) -> Result<crate::MapResults> {
        executor::map_columns_root(self, inputs, map_over, mode, output_name)
    }

    /// [`Pipeline::map`] that goes on past failing items: every item runs, and a failed item's
    /// place holds its error (its note names the node, the pipeline path and the item); the
    /// items' downstream nodes do not run. `Err` only for what fails the map as a whole (bad
    /// arguments, an interrupt).
    pub fn map_each(
        &self,
        inputs: Inputs,
        map_over: &[String],
        mode: MapMode,
        output_name: Option<&[String]>,
    ) -> Result<Vec<Result<Outputs>>> {
        executor::map_each_root(self, inputs, map_over, mode, output_name)
    }

    /// Wraps the pipeline as a node of another pipeline: renamed inputs and outputs, and optionally
    /// mapped over lists (the node then takes `Vec`s and gives `Vec`s).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use hypernodes::{inputs, node, AsNode, Pipeline};
    ///
    /// #[node(output = "length")]
    /// fn measure(word: String) -> usize {
    ///     word.len()
    /// }
    ///
    /// #[node(output = "longest")]
    /// fn longest(lengths: Vec<usize>) -> usize {
    ///     lengths.into_iter().max().unwrap_or(0)
    /// }
    ///
    /// let per_word = Pipeline::new([measure::node()])?.with_name("per_word");
    /// let lengths = per_word.as_node(AsNode {
    ///     input_mapping: BTreeMap::from([("words".to_string(), "word".to_string())]),
    ///     output_mapping: Some(BTreeMap::from([("length".to_string(), "lengths".to_string())])),
    ///     map_over: vec!["words".to_string()],
    ///     ..AsNode::default()
    /// })?;
    /// let p = Pipeline::new([lengths, longest::node()])?;
    /// let words = vec!["a".to_string(), "abc".to_string(), "ab".to_string()];
    /// let out = p.run(inputs! {"words" => words}, None)?;
    /// assert_eq!(out.get::<Vec<usize>>("lengths"), Some(&vec![1, 3, 2]));
    /// assert_eq!(out.get::<usize>("longest"), Some(&3));
    /// # Ok::<(), hypernodes::Error>(())
    /// ```
    pub fn as_node(&self, spec: AsNode) -> Result<Node> {
        let fail =
            |msg: String| Error::Config(format!("as_node of pipeline '{}': {msg}", self.name()));
        let (selected, exposed): (Option<Vec<String>>, Vec<(String, String)>) =
            match &spec.output_mapping {
                Some(m) => {
                    let all = self.outputs();
                    for inner in m.keys() {
                        if !all.contains(inner) {
                            return Err(Error::UnknownOutput {
                                pipeline: self.name().to_string(),
                                requested: inner.clone(),
                                available: all,
                            });
                        }
                    }
                    let pairs: Vec<(String, String)> =
                        m.iter().map(|(i, o)| (i.clone(), o.clone())).collect();
                    (Some(pairs.iter().map(|p| p.0.clone()).collect()), pairs)
                }
                None => (
                    None,
                    self.outputs().into_iter().map(|o| (o.clone(), o)).collect(),
                ),
            };
        let plan = self.plan(selected.as_deref())?;
        let needed = self.unbound_inputs(&plan);
        let all_inputs = self.all_inputs();
        let mut outer_of: BTreeMap<&str, &str> = BTreeMap::new();
        for (outer, inner) in &spec.input_mapping {
            if !all_inputs.contains(inner) {
                return Err(self.unknown_input(inner));
            }
            if outer_of.insert(inner.as_str(), outer.as_str()).is_some() {
                return Err(fail(format!(
                    "two outer names map to the inner input '{inner}'"
                )));
            }
        }
        let mut params = Vec::new();
        let mut inner_inputs = Vec::new();
        for inner in &needed {
            let outer = outer_of.get(inner.as_str()).copied().unwrap_or(inner);
            let mut ty = self.input_type(inner);
            if spec.map_over.iter().any(|m| m == outer) {
                ty = ty.list_type();
            }
            let mut port = Port::new(outer, ty);
            port.default = self.input_default(inner).cloned();
            params.push(port);
            inner_inputs.push(Arc::<str>::from(inner.as_str()));
        }
        for m in &spec.map_over {
            if !params.iter().any(|p| &*p.name == m.as_str()) {
                let names: Vec<String> = params.iter().map(|p| p.name.to_string()).collect();
                return Err(fail(format!(
                    "map_over names '{m}', which is not an input of the node (its inputs: {})",
                    names.join(", ")
                )));
            }
        }
        let mut outputs = Vec::new();
        let mut inner_outputs = Vec::new();
        for (inner, outer) in exposed {
            let mut ty = self.output_type(&inner);
            if !spec.map_over.is_empty() {
                ty = ty.list_type();
            }
            outputs.push(Port::new(outer, ty));
            inner_outputs.push(Arc::<str>::from(inner));
        }
        let map_over_inner: Vec<String> = spec
            .map_over
            .iter()
            .map(|o| {
                let i = params
                    .iter()
                    .position(|p| &*p.name == o.as_str())
                    .expect("checked above");
                inner_inputs[i].to_string()
            })
            .collect();
        let kind = NodeKind::Pipeline(Box::new(PipelineNode {
            pipeline: self.clone(),
            inner_inputs,
            inner_outputs,
            selected,
            map_over: map_over_inner,
            map_mode: spec.map_mode,
            spec: spec.clone(),
        }));
        let name: Arc<str> = spec.name.as_deref().unwrap_or(self.name()).into();
        let node = Node::from_parts(name, params, outputs, kind)?;
        Ok(node.with_cache(spec.cache.unwrap_or(true)))
    }
}

/// A deterministic name for an unnamed pipeline, derived from its node names.
fn default_name(nodes: &[Node]) -> Arc<str> {
    let mut h = blake3::Hasher::new();
    for n in nodes {
        h.update(n.name().as_bytes());
        h.update(&[0]);
    }
    let hex = h.finalize().to_hex();
    format!("pipeline_{}", &hex[..8]).into()
}
