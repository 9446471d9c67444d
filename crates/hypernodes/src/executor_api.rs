//! What an executor author needs, in one place (and the [`Context`] that a
//! [`Callback`](crate::Callback) receives with each event). An executor decides how a pipeline
//! runs; the engine's own is [`NodeExecutor`]. A custom one implements [`Executor`]:
//!
//! - [`Executor::shared`]: the executor as a shared handle (nested pipelines without an executor
//!   of their own inherit it);
//! - [`Executor::run_in`], [`Executor::map_in`] and [`Executor::map_each_in`]: run or map a
//!   pipeline at a place of the run tree given by a [`Context`] (the pipeline path, the enclosing
//!   map items, the cache and callbacks in effect, the root run's cancellation). The provided
//!   `run`, `map` and `map_each` check the inputs, make the root context and call these. Pass the
//!   context on unchanged when you delegate: events, cache keys and error notes come from it.
//!   Its fields are private; read it through its methods ([`Context::path`], [`Context::items`],
//!   [`Context::cache`], [`Context::run_state`], ...).
//!
//! An executor that runs items itself reports them as the engine does: [`Event`]s through
//! [`Context::emit`] (timed with [`Stopwatch`]), in the order documented on [`Event`], each item
//! from its own [`Context::map_item`] so observers know which item an event belongs to
//! ([`RunTree`](crate::RunTree)); it stops starting work once [`RunState::check`] fails. One that moves
//! work to other processes implements [`Offload`] and hands it to [`NodeExecutor::with_offload`];
//! [`Origin`] and [`Context::resumed`] continue a map elsewhere. [`call_batch`] calls a dual node
//! on a batch of items. A framework executor whose workers run nodes elsewhere sends back one
//! [`NodeRecord`] per node and item, and [`replay_item`] turns them into the engine's events,
//! outputs and error notes at the caller.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use hypernodes::executor_api::{Context, Executor, Inputs, MapMode, NodeExecutor, Outputs, Pipeline, Result};
//! use hypernodes::{inputs, node};
//!
//! /// Counts the runs and maps it is asked for, and lets the engine's executor do them.
//! struct Counting {
//!     inner: NodeExecutor,
//!     calls: Arc<AtomicUsize>,
//! }
//!
//! impl Executor for Counting {
//!     fn shared(&self) -> Arc<dyn Executor> {
//!         Arc::new(Counting { inner: self.inner.clone(), calls: self.calls.clone() })
//!     }
//!     fn run_in(&self, p: &Pipeline, inputs: Inputs, out: Option<&[String]>, ctx: &Context)
//!         -> Result<Outputs> {
//!         self.calls.fetch_add(1, Ordering::Relaxed);
//!         self.inner.run_in(p, inputs, out, ctx)
//!     }
//!     fn map_in(&self, p: &Pipeline, inputs: Inputs, over: &[String], mode: MapMode,
//!         out: Option<&[String]>, ctx: &Context) -> Result<Vec<Outputs>> {
//!         self.calls.fetch_add(1, Ordering::Relaxed);
//!         self.inner.map_in(p, inputs, over, mode, out, ctx)
//!     }
//!     fn map_each_in(&self, p: &Pipeline, inputs: Inputs, over: &[String], mode: MapMode,
//!         out: Option<&[String]>, ctx: &Context) -> Result<Vec<Result<Outputs>>> {
//!         self.calls.fetch_add(1, Ordering::Relaxed);
//!         self.inner.map_each_in(p, inputs, over, mode, out, ctx)
//!     }
//! }
//!
//! #[node(output = "doubled")]
//! fn double(x: i64) -> i64 {
//!     x * 2
//! }
//!
//! let calls = Arc::new(AtomicUsize::new(0));
//! let ex = Counting { inner: NodeExecutor::default(), calls: calls.clone() };
//! let p = Pipeline::new([double::node()]).unwrap();
//! let out = ex.map(&p, inputs! {"x" => vec![1_i64, 2]}, &["x".to_string()], MapMode::Zip, None).unwrap();
//! assert_eq!(out.len(), 2);
//! assert_eq!(calls.load(Ordering::Relaxed), 1);
//! ```

pub use crate::callbacks::{Callbacks, Event, Stopwatch};
pub use crate::context::{CancelToken, Context, Origin, RunState};
pub use crate::error::{Error, Result};
pub use crate::executor::{
    block_on, call_batch, call_columns, cpu_count, set_blocking_hook, set_interrupt_hook,
    BatchFailure, Executor, Mode, NodeExecutor, Offload, OffloadMap,
};
pub use crate::io::{Inputs, Outputs};
pub use crate::map::{MapMode, OnError};
pub use crate::pipeline::{Pipeline, Plan};
pub use crate::replay::{replay_item, ItemReplay, NodeRecord};
