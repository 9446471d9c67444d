//! HyperNodes: hierarchical, modular pipelines of plain functions.
//!
//! Write functions that each handle one item, declare them as nodes with [`node`], and build a
//! [`Pipeline`]: nodes are wired by matching parameter names to output names. Pipelines run once
//! ([`Pipeline::run`]), map over lists ([`Pipeline::map`]) and nest as nodes ([`Pipeline::as_node`]).
//! Executors ([`NodeExecutor`]) decide how they run.
//!
//! The engine knows nothing of any host language: values are [`Value`]s and functions are
//! [`NodeFn`]s, which fronts (Rust through `#[node]`, Python through the binding crate) implement.

#![warn(missing_docs)]

extern crate self as hypernodes;

pub mod cache;
pub mod callbacks;
pub mod canonical;
pub mod context;
pub mod error;
pub mod executor;
pub mod executor_api;
pub mod graph;
pub mod invoke;
pub mod io;
pub mod map;
pub mod memo;
pub mod node;
pub mod observe;
pub mod pipeline;
pub mod progress;
pub mod replay;
pub mod report;
pub mod serde_types;
pub mod suggest;
pub mod telemetry;
pub mod value;
pub mod warn;

pub use cache::{Cache, CacheStats, DiskCache, MemoryCache, PruneReport};
pub use callbacks::{Callback, Callbacks, Event};
pub use context::{CancelToken, Origin};
pub use error::{node_note, place_note, BoxError, Error, MapError, MissingInput, Result};
pub use executor::{Executor, Mode, NodeExecutor, Offload, OffloadMap};
pub use hypernodes_macros::node;
pub use io::{Inputs, Outputs};
pub use map::{MapMode, OnError};
pub use node::{BatchArg, BatchFn, Dual, Node, NodeFn, NodeKind, PipelineNode, Port};
pub use pipeline::{AsNode, Pipeline, Plan, Setting, Settings};
pub use progress::ProgressCallback;
pub use report::RunReport;
pub use serde_types::register_cacheable;
pub use telemetry::TracingCallback;
pub use value::{value, AnyType, Typed, Value, ValueType};

/// The Rust code blocks of the README and the docs, compiled and run as doc tests
/// (`cargo test --doc`), so that they cannot drift from the crate. Python blocks are run by
/// `scripts/run_doc_blocks.py`.
#[cfg(doctest)]
mod doc_blocks {
    #[doc = include_str!("../../../README.md")]
    struct Readme;
    #[doc = include_str!("../../../docs/caching.md")]
    struct Caching;
    #[doc = include_str!("../../../docs/callbacks.md")]
    struct Callbacks;
    #[doc = include_str!("../../../docs/concepts.md")]
    struct Concepts;
    #[doc = include_str!("../../../docs/executors.md")]
    struct Executors;
    #[doc = include_str!("../../../docs/guides/choosing-an-executor.md")]
    struct ChoosingAnExecutor;
    #[doc = include_str!("../../../docs/guides/modal.md")]
    struct Modal;
    #[doc = include_str!("../../../docs/guides/migrating-from-hypernodes-0.4.md")]
    struct MigratingFromHypernodes04;
}
