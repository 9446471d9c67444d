//! Eager concurrent execution of one run's nodes: a node starts as soon as its inputs exist (no
//! level-by-level barrier), at most `workers` at a time, ready nodes started in name order. Nodes run
//! on the shared worker pool ([`super::pool`]); a node that is the only one ready while none runs
//! (every node of a chain) runs on the calling thread, as nothing could run beside it.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::context::Context;
use crate::error::Result;
use crate::invoke::{Keys, Slots};
use crate::pipeline::{Pipeline, Plan};
use crate::value::Value;

/// Calls one node, by index (in a worker thread).
pub(crate) type CallNode<'a> = dyn Fn(usize, Args, &Context) -> Result<Args> + Sync + 'a;

/// A node's values and (when keyed) their keys.
pub(crate) type Args = (Vec<Value>, Option<Keys>);

type Job = (usize, Args);

/// Executes `plan`'s nodes on `workers` threads; returns the filled slots or the first error (by
/// completion) after every started node has finished.
pub(crate) fn run_concurrent(
    pipeline: &Pipeline,
    plan: &Plan,
    mut slots: Slots,
    ctx: &Context,
    workers: usize,
    call: &CallNode<'_>,
) -> Result<Slots> {
    let g = pipeline.graph();
    let nodes = pipeline.nodes();
    let in_plan: Vec<bool> = {
        let mut v = vec![false; nodes.len()];
        plan.nodes.iter().for_each(|&n| v[n] = true);
        v
    };
    let mut waiting: Vec<usize> = (0..nodes.len())
        .map(|n| if in_plan[n] { g.upstream(n).count() } else { 0 })
        .collect();
    let mut ready: BTreeSet<usize> = plan
        .nodes
        .iter()
        .copied()
        .filter(|&n| waiting[n] == 0)
        .collect();
    let workers = workers.max(1).min(plan.nodes.len().max(1));
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<(usize, std::thread::Result<Result<Args>>)>();
    super::pool::scope(|s| {
        let job_tx = job_tx; // dropped on unwinding too, so that this run's workers stop
        let mut panicked = None;
        let mut started = 0usize;
        let mut running = 0usize;
        let mut first_error = None;
        loop {
            if first_error.is_none() && running == 0 && ready.len() == 1 {
                // alone: run it here, without a hand-over to another thread
                if ctx.run.is_cancelled() {
                    first_error = Some(crate::error::Error::Interrupted);
                    continue;
                }
                let n = ready.pop_first().expect("one node is ready");
                let args = slots.args(&g.node_inputs[n]);
                let res = Ok(call(n, args, ctx));
                done_tx
                    .send((n, res))
                    .expect("the receiver lives in this frame");
                running += 1;
            }
            if first_error.is_none() {
                while let Some(n) = ready.pop_first() {
                    if started < workers {
                        // a worker for this run (at most `workers`), taking jobs until none remain
                        started += 1;
                        let job_rx = job_rx.clone();
                        let done_tx = done_tx.clone();
                        s.spawn(move || loop {
                            let job = job_rx.lock().expect("job queue poisoned").recv();
                            let Ok((n, args)) = job else { break };
                            // a panic is raised by the calling thread, once the others are done
                            let res = catch_unwind(AssertUnwindSafe(|| call(n, args, ctx)));
                            if done_tx.send((n, res)).is_err() {
                                break;
                            }
                        });
                    }
                    let args = slots.args(&g.node_inputs[n]);
                    job_tx
                        .send((n, args))
                        .expect("workers are alive while jobs remain");
                    running += 1;
                }
            }
            if running == 0 {
                break;
            }
            let (n, res) = match done_rx.recv_timeout(crate::executor::blocking::POLL) {
                Ok(done) => done,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // watching for an interrupt: no new node starts once the run is cancelled
                    if crate::executor::blocking::interrupted(&ctx.run.cancelled)
                        || ctx.run.is_cancelled()
                    {
                        first_error.get_or_insert(crate::error::Error::Interrupted);
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    unreachable!("a running node reports back")
                }
            };
            running -= 1;
            let res = match res {
                Ok(res) => res,
                Err(p) => {
                    panicked.get_or_insert(p);
                    first_error.get_or_insert(crate::error::Error::Interrupted);
                    continue;
                }
            };
            match res {
                Ok((values, keys)) => {
                    slots.set(&g.node_outputs[n], values, keys);
                    let mut downstream: Vec<usize> = g.node_outputs[n]
                        .iter()
                        .flat_map(|&v| g.consumers[v].iter().copied())
                        .filter(|&c| in_plan[c])
                        .collect();
                    downstream.sort_unstable();
                    downstream.dedup();
                    for c in downstream {
                        waiting[c] -= 1;
                        if waiting[c] == 0 {
                            ready.insert(c);
                        }
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        drop(job_tx); // the workers of this run stop
        if let Some(p) = panicked {
            resume_unwind(p);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(slots),
        }
    })
}
