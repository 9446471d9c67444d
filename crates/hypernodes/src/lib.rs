//! HyperNodes: hierarchical, modular pipelines of plain functions.
//!
//! Write functions that each handle one item, declare them as nodes with [`node`], and build a
//! [`Pipeline`]: nodes are wired by matching parameter names to output names. Pipelines run once
//! ([`Pipeline::run`]), map over lists ([`Pipeline::map`]) and nest as nodes ([`Pipeline::as_node`]).
//! Executors ([`NodeExecutor`]) decide how they run.
//!
//! The engine knows nothing of any host language: values are [`Value`]s and functions are
//! [`NodeFn`]s, which fronts (Rust through `#[node]`, Python through the binding crate) implement.

extern crate self as hypernodes;

pub mod cache;
pub mod callbacks;
pub mod context;
pub mod error;
pub mod executor;
pub mod graph;
pub mod invoke;
pub mod io;
pub mod map;
pub mod memo;
pub mod node;
pub mod pipeline;
pub mod progress;
pub mod serde_types;
pub mod telemetry;
pub mod value;
pub mod warn;

pub use cache::{Cache, CacheStats, DiskCache, MemoryCache, PruneReport};
pub use callbacks::{Callback, Callbacks, Event};
pub use error::{BoxError, Error, MapError, Result};
pub use executor::{Executor, Mode, NodeExecutor, Offload};
pub use hypernodes_macros::node;
pub use io::{Inputs, Outputs};
pub use map::MapMode;
pub use node::{Node, NodeFn, NodeKind, PipelineNode, Port};
pub use pipeline::{AsNode, Pipeline, Plan, Setting, Settings};
pub use progress::ProgressCallback;
pub use serde_types::register_cacheable;
pub use telemetry::TracingCallback;
pub use value::{value, AnyType, Typed, Value, ValueType};
