//! HyperNodes: hierarchical, modular pipelines of plain functions.
//!
//! Write functions that each handle one item, declare them as nodes with [`#[node]`](macro@node), and build a
//! [`Pipeline`]: nodes are wired by matching parameter names to output names. Pipelines run once
//! ([`Pipeline::run`]), map over lists ([`Pipeline::map`]) and nest as nodes ([`Pipeline::as_node`]).
//! Executors ([`NodeExecutor`]) decide how they run.
//!
//! ```
//! use hypernodes::{inputs, node, Pipeline};
//!
//! #[node(output = "cleaned")]
//! fn clean(text: String) -> String {
//!     text.trim().to_lowercase()
//! }
//!
//! #[node(output = "words")]
//! fn count_words(cleaned: &String) -> usize {
//!     cleaned.split_whitespace().count()
//! }
//!
//! let p = Pipeline::new([clean::node(), count_words::node()])?;
//! let out = p.run(inputs! {"text" => "  Hello World ".to_string()}, None)?;
//! assert_eq!(out.try_get::<usize>("words")?, &2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Progress bars and tracing
//!
//! Runs are observed through [`Callback`]s: `ProgressCallback` draws progress bars (indicatif, cargo
//! feature `progress`) and `TracingCallback` emits `tracing` spans for pipelines, nodes and map items
//! (cargo feature `tracing`).
//!
//! ```
//! # #[cfg(all(feature = "progress", feature = "tracing"))]
//! # fn main() -> Result<(), hypernodes::Error> {
//! use std::sync::Arc;
//! use hypernodes::{inputs, node, Callback, Callbacks, MapMode, Pipeline, ProgressCallback, Setting, TracingCallback};
//!
//! #[node(output = "y")]
//! fn inc(x: i64) -> i64 {
//!     x + 1
//! }
//!
//! let progress = Arc::new(ProgressCallback::hidden()); // ProgressCallback::new() draws on stderr
//! let tracing = Arc::new(TracingCallback::new()); // spans go to the current tracing subscriber
//! let list: Vec<Arc<dyn Callback>> = vec![progress.clone(), tracing];
//! let p = Pipeline::new([inc::node()])?.with_callbacks(Setting::On(Arc::new(Callbacks::new(list))));
//! let out = p.map(inputs! {"x" => vec![1_i64, 2, 3]}, &["x".to_string()], MapMode::Zip, None)?;
//! assert_eq!(out.len(), 3);
//! assert!(!progress.bars().is_empty());
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "progress", feature = "tracing")))]
//! # fn main() {}
//! ```
//!
//! # Cargo features
//!
//! All on by default; turn them off with `default-features = false` for a lighter build:
//!
//! - `progress`: `ProgressCallback` (indicatif);
//! - `tracing`: `TracingCallback` (tracing);
//! - `async`: `async fn` nodes run on a shared tokio runtime (without it, they are polled on the
//!   calling thread, and futures that need tokio's timers or I/O panic);
//! - `rayon`: `Mode::Parallel` runs on rayon pools, and large values hash on several threads
//!   (without it, "parallel" maps run on the worker pool like "threaded" ones).
//!
//! # Values are shared
//!
//! Each value is computed once and shared (an `Arc`) by every node that reads it. A `#[node]`
//! parameter `&T` reads it without a copy; a parameter `T` gets its own clone. Take large values by
//! reference (see [`macro@node`]).
//!
//! The engine knows nothing of any host language: values are [`Value`]s and functions are
//! [`NodeFn`]s, which fronts (Rust through `#[node]`, Python through the binding crate) implement.
//!
//! # Writing an executor
//!
//! The names at the crate root are the API for building and running pipelines. An executor of your
//! own implements [`Executor`]; [`executor_api`] gathers what it needs (the run [`Context`
//! ](executor_api::Context) it receives, events, offloading work, replaying records of nodes that
//! ran elsewhere) with an example.

#![warn(missing_docs, unreachable_pub)]

extern crate self as hypernodes;

mod cache;
mod callbacks;
mod canonical;
mod context;
mod error;
mod executor;
mod graph;
mod invoke;
mod io;
mod map;
mod memo;
mod node;
mod observe;
mod pipeline;
#[cfg(feature = "progress")]
mod progress;
mod replay;
mod report;
mod serde_types;
mod stack;
mod suggest;
#[cfg(feature = "tracing")]
mod telemetry;
mod value;
mod warn;

pub mod executor_api;

// The public API, in one list. Everything else is private to the crate, except `executor_api`
// (what a custom executor needs) and the hidden `for_binding` (the Python binding's access).
pub use cache::{Cache, CacheStats, DiskCache, Key, MemoryCache, PruneReport};
pub use callbacks::{Callback, Callbacks, Event, Named};
pub use context::CancelToken;
pub use error::{
    node_note, place_note, BoxError, Error, MapError, MissingInput, Result, TypeConflict,
};
pub use executor::{cpu_count, Columns, Executor, MapResults, Mode, NodeExecutor};
pub use graph::Graph;
pub use hypernodes_macros::node;
pub use io::{Inputs, OutputError, Outputs};
pub use map::{MapMode, OnError};
pub use node::{
    BatchArg, BatchFn, ColumnArg, Dual, Node, NodeFn, NodeKind, PipelineNode, Port,
    DEFAULT_BATCH_SIZE,
};
pub use observe::{Attr, BarInfo, Change, Outcome, RunTree, SpanInfo, SpanKind, Step, Where};
pub use pipeline::{AsNode, Pipeline, Plan, Setting, Settings};
#[cfg(feature = "progress")]
pub use progress::ProgressCallback;
pub use report::{NodeStats, RunReport, Span};
pub use serde_types::register_cacheable;
#[cfg(feature = "tracing")]
pub use telemetry::TracingCallback;
pub use value::{value, AnyType, Typed, Value, ValueType, TYPED_LIST_DEPTH};
pub use warn::set_warning_hook;

/// Engine internals that the Python binding (`hypernodes-python`) and the code generated by
/// [`macro@node`] reach. Not part of the API: not covered by semver, may change in any release.
#[doc(hidden)]
pub mod for_binding {
    pub use crate::cache::{
        always_runs, flush_all, flush_all_at_exit, input_key, keys_node_identity,
    };
    pub use crate::callbacks::delivering;
    pub use crate::executor::run_at;
    pub use crate::invoke::{check_arity, NodeCache};
    pub use crate::memo::memoize;
    pub use crate::node::take_arg;
    pub use crate::warn::{warn, warn_once};
}

/// The Rust code blocks of the README and the docs, compiled and run as doc tests
/// (`cargo test --doc`), so that they cannot drift from the crate. Python blocks are run by
/// `scripts/run_doc_blocks.py`.
#[cfg(all(
    doctest,
    feature = "progress",
    feature = "tracing",
    feature = "async",
    feature = "rayon"
))]
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
