//! Inputs given to a run and outputs it returns.

use std::collections::HashMap;
use std::sync::Arc;

use crate::value::Value;

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
#[derive(Clone, Default)]
pub struct Outputs {
    entries: Vec<(Arc<str>, Value)>,
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
        Outputs { entries }
    }

    /// The value named `name`.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    /// The value named `name` as a `T` (`None` when absent or of another type).
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
