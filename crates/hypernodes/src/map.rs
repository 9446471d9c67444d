//! Map modes and the expansion of mapped lists into items.

use std::str::FromStr;

use crate::error::{Error, MapError, Result};
use crate::value::Value;

/// How the lists of several mapped inputs combine into items.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MapMode {
    /// Item i takes element i of every list; the lists must have equal lengths.
    #[default]
    Zip,
    /// Every combination, in the order of `map_over`, the last input varying fastest.
    Product,
}

impl MapMode {
    /// The mode's name as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            MapMode::Zip => "zip",
            MapMode::Product => "product",
        }
    }
}

impl FromStr for MapMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "zip" => Ok(MapMode::Zip),
            "product" => Ok(MapMode::Product),
            other => Err(Error::Map(MapError::UnknownMode(other.to_string()))),
        }
    }
}

/// What a map does when an item fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnError {
    /// The map fails with the first failing item's error (in item order); no new item starts.
    #[default]
    Raise,
    /// Every item runs; a failed item's place holds its error (its downstream nodes do not run).
    Continue,
}

impl OnError {
    /// The policy's name as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Raise => "raise",
            OnError::Continue => "continue",
        }
    }
}

impl FromStr for OnError {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "raise" => Ok(OnError::Raise),
            "continue" => Ok(OnError::Continue),
            other => Err(Error::Config(format!(
                "on_error must be 'raise' or 'continue', got '{other}'"
            ))),
        }
    }
}

/// Combines mapped lists (in `map_over` order) into items: one value per mapped input per item.
pub(crate) fn expand(
    pipeline: &str,
    names: &[String],
    lists: Vec<Vec<Value>>,
    mode: MapMode,
) -> Result<Vec<Vec<Value>>> {
    match mode {
        MapMode::Zip => {
            let n = lists.first().map_or(0, Vec::len);
            if lists.iter().any(|l| l.len() != n) {
                return Err(Error::Map(MapError::LengthMismatch {
                    pipeline: pipeline.to_string(),
                    lengths: names
                        .iter()
                        .cloned()
                        .zip(lists.iter().map(Vec::len))
                        .collect(),
                }));
            }
            Ok((0..n)
                .map(|i| lists.iter().map(|l| l[i].clone()).collect())
                .collect())
        }
        MapMode::Product => {
            let total: usize = lists.iter().map(Vec::len).product();
            let mut items = Vec::with_capacity(total);
            let mut idx = vec![0usize; lists.len()];
            for _ in 0..total {
                items.push(idx.iter().zip(&lists).map(|(&i, l)| l[i].clone()).collect());
                for k in (0..idx.len()).rev() {
                    idx[k] += 1;
                    if idx[k] < lists[k].len() {
                        break;
                    }
                    idx[k] = 0;
                }
            }
            Ok(items)
        }
    }
}
