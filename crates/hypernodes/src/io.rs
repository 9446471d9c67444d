//! Inputs given to a run and outputs it returns.

use std::collections::HashMap;
use std::sync::Arc;

use crate::pipeline::Pipeline;
use crate::value::{name_of, short_type_name, Value};

/// Named input values of a run or a map.
pub type Inputs = HashMap<String, Value>;

/// Builds [`Inputs`] from `name => value` pairs: `inputs! {"x" => 1_i64, "y" => "a".to_string()}`.
#[macro_export]
macro_rules! inputs {
    ($($name:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut m = $crate::Inputs::new();
        $( m.insert(::std::string::String::from($name), $crate::value($v)); )*
        m
    }};
}

/// The named results of one run, in pipeline order.
///
/// ```
/// use hypernodes::{inputs, node, OutputError, Pipeline};
///
/// #[node(output = "words")]
/// fn split(text: String) -> Vec<String> {
///     text.split_whitespace().map(String::from).collect()
/// }
///
/// let p = Pipeline::new([split::node()]).unwrap();
/// let mut out = p.run(inputs! {"text" => "a b".to_string()}, None).unwrap();
/// assert_eq!(out.get::<Vec<String>>("words").map(Vec::len), Some(2));
/// // a typo, or a wrong type, is an error that says which
/// assert!(matches!(out.try_get::<Vec<String>>("word"), Err(OutputError::Unknown { .. })));
/// assert!(matches!(out.try_get::<String>("words"), Err(OutputError::WrongType { .. })));
/// // take moves the value out (no copy when nothing else holds it)
/// let words: Vec<String> = out.take("words").unwrap();
/// assert_eq!(words, ["a", "b"]);
/// ```
#[derive(Clone, Default)]
pub struct Outputs {
    entries: Vec<(Arc<str>, Value)>,
    /// The pipeline that made them, to name the types of its outputs in errors.
    source: Option<Pipeline>,
}

/// Why an output could not be read from [`Outputs`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// No output has this name.
    #[error("no output '{name}'{}; the outputs are: {}", did_you_mean(.suggestion), .available.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names present, in pipeline order.
        available: Vec<String>,
        /// The closest present name, when one is close.
        suggestion: Option<String>,
    },
    /// The output holds another type than the one asked for.
    #[error("output '{name}' is a {actual}, not a {expected}")]
    WrongType {
        /// The output name.
        name: String,
        /// The type asked for.
        expected: String,
        /// The type held (`a value of another type` when it cannot be named).
        actual: String,
    },
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default()
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(n, _)| n))
            .finish()
    }
}

impl Outputs {
    /// Outputs from `(name, value)` pairs.
    pub fn from_pairs(entries: Vec<(Arc<str>, Value)>) -> Self {
        Outputs {
            entries,
            source: None,
        }
    }

    /// The same outputs, knowing the pipeline that made them (for the type names in errors).
    pub(crate) fn with_source(mut self, pipeline: &Pipeline) -> Self {
        self.source = Some(pipeline.clone());
        self
    }

    /// The value named `name` as a `T`, or an error saying whether the name is unknown (with the
    /// closest name) or the value is of another type (naming both).
    pub fn try_get<T: 'static>(&self, name: &str) -> Result<&T, OutputError> {
        let v = self.find(name)?;
        v.downcast_ref::<T>()
            .ok_or_else(|| self.wrong_type::<T>(name, v))
    }

    /// Moves the value named `name` out as a `T`, without a copy when nothing else holds it (a
    /// cache, or another output of the same value); otherwise it is cloned. The output is
    /// removed; on error nothing is removed.
    pub fn take<T: Clone + Send + Sync + 'static>(&mut self, name: &str) -> Result<T, OutputError> {
        let v = self.find(name)?;
        if !v.is::<T>() {
            return Err(self.wrong_type::<T>(name, v));
        }
        let pos = self
            .entries
            .iter()
            .position(|(n, _)| &**n == name)
            .expect("found above");
        let (_, v) = self.entries.remove(pos);
        let typed: Arc<T> = v.downcast::<T>().expect("checked above");
        Ok(Arc::try_unwrap(typed).unwrap_or_else(|shared| (*shared).clone()))
    }

    fn find(&self, name: &str) -> Result<&Value, OutputError> {
        self.value(name).ok_or_else(|| {
            let available: Vec<String> = self.names().map(String::from).collect();
            let suggestion = crate::suggest::closest(name, available.iter().map(String::as_str))
                .map(String::from);
            OutputError::Unknown {
                name: name.to_string(),
                available,
                suggestion,
            }
        })
    }

    fn wrong_type<T: 'static>(&self, name: &str, v: &Value) -> OutputError {
        let ty = self.source.as_ref().map(|p| p.output_type(name));
        let known: Vec<&dyn crate::value::ValueType> = ty.iter().map(|t| &**t).collect();
        OutputError::WrongType {
            name: name.to_string(),
            expected: short_type_name(std::any::type_name::<T>()),
            actual: name_of(v, &known).unwrap_or_else(|| "a value of another type".to_string()),
        }
    }

    /// The value named `name`.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    /// The value named `name` as a `T` (`None` when absent or of another type; see
    /// [`Outputs::try_get`] for an error that says which).
    pub fn get<T: 'static>(&self, name: &str) -> Option<&T> {
        self.value(name)?.downcast_ref::<T>()
    }

    /// The names, in pipeline order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| &**n)
    }

    /// Every `(name, value)` pair, in pipeline order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Value)> {
        self.entries.iter().map(|(n, v)| (n, v))
    }

    /// Consumes the outputs into `(name, value)` pairs.
    pub fn into_entries(self) -> Vec<(Arc<str>, Value)> {
        self.entries
    }

    /// The number of outputs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
