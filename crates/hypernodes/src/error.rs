//! Errors of building and running pipelines. Each names the node, input, output or pipeline at fault.

use std::fmt;

/// A boxed error returned by a node's function.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when a pipeline is built or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two nodes produce the same output name.
    #[error("output '{output}' is produced by two nodes: '{first}' and '{second}'")]
    DuplicateOutput {
        /// The contested output name.
        output: String,
        /// The first producer.
        first: String,
        /// The second producer.
        second: String,
    },
    /// Two nodes share one name.
    #[error("two nodes are named '{0}'; node names must be unique within a pipeline")]
    DuplicateNode(String),
    /// The nodes depend on each other in a cycle.
    #[error("the pipeline has a cycle: {}", .cycle.join(" -> "))]
    Cycle {
        /// The node names along the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A consumer's parameter type differs from its producer's output type.
    #[error(
        "type mismatch on '{value}': node '{producer}' outputs {produced} but node '{consumer}' takes {expected}"
    )]
    TypeMismatch {
        /// The value name.
        value: String,
        /// The producing node.
        producer: String,
        /// The produced type.
        produced: String,
        /// The consuming node.
        consumer: String,
        /// The type the consumer takes.
        expected: String,
    },
    /// Required inputs were not given. The wording starts as the original HyperNodes' did
    /// ("Missing required input"), which its users' code and tests match.
    #[error("Missing required input(s) of pipeline '{pipeline}': {}", describe_missing(.missing, .details))]
    MissingInputs {
        /// The pipeline that needs them.
        pipeline: String,
        /// Every missing input name, sorted.
        missing: Vec<String>,
        /// For each missing input (same order): the nodes that need it and a suggestion.
        details: Vec<MissingInput>,
    },
    /// A requested output does not exist.
    #[error(
        "output '{requested}' not found in pipeline '{pipeline}'{}; available outputs: {}",
        did_you_mean(&closest_of(.requested, .available)),
        .available.join(", ")
    )]
    UnknownOutput {
        /// The pipeline asked.
        pipeline: String,
        /// The unknown name.
        requested: String,
        /// Every output the pipeline has, sorted.
        available: Vec<String>,
    },
    /// A name given to `run`, `map`, `bind`, `unbind` or a mapping is not an input of the pipeline.
    #[error("pipeline '{pipeline}' has no input '{name}'{}{}", did_you_mean(.suggestion), hint(.available))]
    UnknownInput {
        /// The pipeline asked.
        pipeline: String,
        /// The unknown name (the first in name order when several are unknown).
        name: String,
        /// The inputs the pipeline has.
        available: Vec<String>,
        /// The closest input name, when one is close.
        suggestion: Option<String>,
    },
    /// A node returned a different number of values than it declares outputs.
    #[error("node '{node}' declares {expected} outputs ({}) but returned {got}", .outputs.join(", "))]
    Arity {
        /// The node.
        node: String,
        /// Declared output names.
        outputs: Vec<String>,
        /// Declared count.
        expected: usize,
        /// Returned count.
        got: usize,
    },
    /// A node's batch function returned a different number of rows than the items it was given.
    #[error(
        "node '{node}': its batch function returned {got} values for a batch of {expected} items"
    )]
    BatchLength {
        /// The node.
        node: String,
        /// Items in the batch.
        expected: usize,
        /// Rows returned.
        got: usize,
    },
    /// A node's parameter received a value of another type.
    #[error("node '{node}' parameter '{param}': {message}")]
    BadArgument {
        /// The node.
        node: String,
        /// The parameter.
        param: String,
        /// What went wrong.
        message: String,
    },
    /// Invalid arguments to `map` or to a mapped node.
    #[error("{0}")]
    Map(MapError),
    /// Invalid configuration (executor, node or pipeline settings).
    #[error("{0}")]
    Config(String),
    /// The run was interrupted (Ctrl-C, or a cancelled run): no new node or item started after it.
    #[error("interrupted: no new node or item was started")]
    Interrupted,
    /// An error raised elsewhere (a worker process, a framework executor) that already names its node.
    #[error("{0}")]
    Foreign(BoxError),
    /// A node's function failed.
    #[error("{source}\n  {}", node_note(.node, .path, .items))]
    Node {
        /// The failing node.
        node: String,
        /// The pipeline names from the root to the node's pipeline.
        path: Vec<String>,
        /// The indices of the map items the node ran in, outermost first (empty outside maps).
        items: Vec<usize>,
        /// The node's own error.
        source: BoxError,
    },
}

/// The note that names where a node failed, the same in every executor and mode:
/// `in node 'judge' of pipeline 'eval > per_query', item 2` (nested maps: `items 0 > 2`).
pub fn node_note(node: &str, path: &[String], items: &[usize]) -> String {
    format!("in node '{node}' of {}", place_note(path, items))
}

/// A place in a run, as notes name it: `pipeline 'eval > per_query', item 2` (nested maps:
/// `items 0 > 2`; outside maps, the pipeline path alone).
pub fn place_note(path: &[String], items: &[usize]) -> String {
    let mut note = format!("pipeline '{}'", path.join(" > "));
    match items {
        [] => {}
        [i] => note.push_str(&format!(", item {i}")),
        _ => {
            let all: Vec<String> = items.iter().map(|i| i.to_string()).collect();
            note.push_str(&format!(", items {}", all.join(" > ")));
        }
    }
    note
}

/// What is known about one missing input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingInput {
    /// The nodes that take it, in node order.
    pub needed_by: Vec<String>,
    /// A close name the caller may have meant: a given name the pipeline does not use, or an
    /// output of the pipeline (a typo in the parameter name), with the node producing it.
    pub suggestion: Option<(String, Option<String>)>,
}

fn closest_of(name: &str, available: &[String]) -> Option<String> {
    crate::suggest::closest(name, available.iter().map(String::as_str)).map(String::from)
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

fn describe_missing(missing: &[String], details: &[MissingInput]) -> String {
    let quote = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let parts: Vec<String> = missing
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let Some(d) = details.get(i) else {
                return name.clone();
            };
            let mut notes = Vec::new();
            if !d.needed_by.is_empty() {
                let s = if d.needed_by.len() == 1 { "" } else { "s" };
                notes.push(format!("needed by node{s} {}", quote(&d.needed_by)));
            }
            match &d.suggestion {
                Some((s, Some(producer))) => notes.push(format!(
                    "did you mean '{s}', the output of node '{producer}'? (a parameter named \
                     '{name}' becomes a pipeline input)"
                )),
                Some((s, None)) => notes.push(format!("did you mean the given '{s}'?")),
                None => {}
            }
            if notes.is_empty() {
                name.clone()
            } else {
                format!("{name} ({})", notes.join("; "))
            }
        })
        .collect();
    parts.join(", ")
}

fn hint(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!("; its inputs are: {}", available.join(", "))
    }
}

/// The ways `map` arguments can be wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// `map_over` names an input that was not given.
    AbsentInput {
        /// The pipeline mapped.
        pipeline: String,
        /// The absent name.
        name: String,
    },
    /// A mapped input is not a list.
    NotASequence {
        /// The pipeline mapped.
        pipeline: String,
        /// The input.
        name: String,
        /// Why.
        reason: String,
    },
    /// Zip mode with lists of different lengths.
    LengthMismatch {
        /// The pipeline mapped.
        pipeline: String,
        /// Every mapped input with its length.
        lengths: Vec<(String, usize)>,
    },
    /// A map mode other than zip and product.
    UnknownMode(String),
    /// `map_over` is empty.
    Empty {
        /// The pipeline mapped.
        pipeline: String,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::AbsentInput { pipeline, name } => write!(
                f,
                "map over '{name}' in pipeline '{pipeline}': '{name}' is not among the given inputs"
            ),
            MapError::NotASequence {
                pipeline,
                name,
                reason,
            } => write!(
                f,
                "map over '{name}' in pipeline '{pipeline}': the value is not a list ({reason})"
            ),
            MapError::LengthMismatch { pipeline, lengths } => {
                let parts: Vec<String> = lengths.iter().map(|(n, l)| format!("{n}={l}")).collect();
                write!(
                    f,
                    "zip map in pipeline '{pipeline}' needs lists of equal length, got {}",
                    parts.join(", ")
                )
            }
            MapError::UnknownMode(m) => {
                write!(f, "unknown map_mode '{m}': expected 'zip' or 'product'")
            }
            MapError::Empty { pipeline } => {
                write!(
                    f,
                    "map in pipeline '{pipeline}' needs at least one map_over input"
                )
            }
        }
    }
}

impl Error {
    /// The node's own error when this is a node failure.
    pub fn node_source(&self) -> Option<&BoxError> {
        match self {
            Error::Node { source, .. } => Some(source),
            _ => None,
        }
    }
}
