//! Concurrent execution of a map's items: at most `workers` at a time, results kept in item order.
//! After an item fails no new item starts, and the error of the first failing item (in item order) is
//! returned. The waiting thread watches for interrupts (see `blocking::set_interrupt_hook`): once
//! the run is cancelled, no new item starts and the map returns `Error::Interrupted`.

#[cfg(feature = "rayon")]
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(feature = "rayon")]
use std::sync::{Arc, OnceLock};
use std::sync::{Condvar, Mutex};

#[cfg(feature = "rayon")]
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::executor::blocking::{interrupted, POLL};

/// Runs `f` for each index in `0..n` on `workers` pool workers; `cancel` stops new items.
pub(crate) fn on_threads<T: Send>(
    n: usize,
    workers: usize,
    cancel: &AtomicBool,
    f: &(dyn Fn(usize) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Vec<Mutex<Option<Result<T>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let threads = workers.clamp(1, n.max(1));
    let finished = (Mutex::new(0usize), Condvar::new());
    super::pool::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    if failed.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = f(i);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    *results[i].lock().expect("result slot poisoned") = Some(r);
                }
                *finished.0.lock().expect("counter poisoned") += 1;
                finished.1.notify_all();
            });
        }
        // wait for the workers, watching for an interrupt meanwhile
        let mut done = finished.0.lock().expect("counter poisoned");
        while *done < threads {
            let (guard, timeout) = finished
                .1
                .wait_timeout(done, POLL)
                .expect("counter poisoned");
            done = guard;
            if timeout.timed_out() {
                drop(done);
                interrupted(cancel);
                done = finished.0.lock().expect("counter poisoned");
            }
        }
    });
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    gather(results)
}

/// Runs `run` on a pool worker while this thread watches for interrupts (setting `cancel`).
#[cfg(feature = "rayon")]
pub(crate) fn watching<R: Send>(cancel: &AtomicBool, run: impl FnOnce() -> R + Send) -> R {
    let out: Mutex<Option<R>> = Mutex::new(None);
    let finished = AtomicBool::new(false);
    let me = std::thread::current();
    super::pool::scope(|s| {
        s.spawn(|| {
            // set even when `run` panics (the scope re-raises the panic)
            struct Done<'a>(&'a AtomicBool, std::thread::Thread);
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Release);
                    self.1.unpark();
                }
            }
            let _done = Done(&finished, me.clone());
            let r = run();
            *out.lock().expect("result slot poisoned") = Some(r);
        });
        while !finished.load(Ordering::Acquire) {
            std::thread::park_timeout(POLL);
            if !finished.load(Ordering::Acquire) {
                interrupted(cancel);
            }
        }
    });
    out.into_inner()
        .expect("result slot poisoned")
        .expect("the job ran")
}

fn gather<T>(results: Vec<Mutex<Option<Result<T>>>>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(results.len());
    let mut first_err = None;
    for r in results {
        match r.into_inner().expect("result slot poisoned") {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Without the `rayon` feature, "parallel" maps run on the worker pool, as "threaded" ones do.
#[cfg(not(feature = "rayon"))]
pub(crate) fn on_rayon<T: Send>(
    _depth: usize,
    n: usize,
    workers: usize,
    cancel: &AtomicBool,
    f: &(dyn Fn(usize) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    on_threads(n, workers, cancel, f)
}

/// The rayon pool of `workers` threads for maps at `depth`. Maps at different depths get different
/// pools: an item blocked on its own threads must never wait for a pool that it occupies.
#[cfg(feature = "rayon")]
fn rayon_pool(workers: usize, depth: usize) -> Arc<rayon::ThreadPool> {
    type Pools = Mutex<HashMap<(usize, usize), Arc<rayon::ThreadPool>>>;
    static POOLS: OnceLock<Pools> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .expect("pool table poisoned");
    pools
        .entry((workers, depth))
        .or_insert_with(|| {
            Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(workers)
                    .thread_name(|i| format!("hypernodes-rayon-{i}"))
                    .build()
                    .expect("a rayon pool can be built"),
            )
        })
        .clone()
}

/// Runs `f` for each index in `0..n` on a rayon pool of `workers` threads (reused across calls);
/// `cancel` stops new items.
#[cfg(feature = "rayon")]
pub(crate) fn on_rayon<T: Send>(
    depth: usize,
    n: usize,
    workers: usize,
    cancel: &AtomicBool,
    f: &(dyn Fn(usize) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let failed = AtomicBool::new(false);
    let pool = rayon_pool(workers.max(1), depth);
    let run = || {
        pool.install(|| {
            (0..n)
                .into_par_iter()
                .with_max_len(1)
                .map(|i| {
                    if failed.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed) {
                        return Mutex::new(None);
                    }
                    let r = f(i);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    Mutex::new(Some(r))
                })
                .collect()
        })
    };
    // A worker of another pool waiting in `install` would run its own pool's jobs meanwhile (an
    // enclosing map's next items), exceeding that map's worker bound: wait from a plain thread.
    // An outermost map waits from a thread of its own too, watching for interrupts meanwhile.
    let results: Vec<Mutex<Option<Result<T>>>> =
        if rayon::current_thread_index().is_some() && pool.current_thread_index().is_none() {
            let out = Mutex::new(None);
            super::pool::scope(|s| s.spawn(|| *out.lock().expect("poisoned") = Some(run())));
            out.into_inner().expect("poisoned").expect("the job ran")
        } else if rayon::current_thread_index().is_none() {
            watching(cancel, run)
        } else {
            run()
        };
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    gather(results)
}
