//! A process-wide cache of worker threads for scoped jobs: threaded and async execution hand their
//! work to idle threads instead of starting OS threads for every run or map. A job goes to an idle
//! worker, or to a new one when none is idle (so the pool never makes a job wait for another job:
//! nested runs cannot deadlock on it); a worker idle for [`IDLE_EXIT`] exits.
//!
//! [`scope`] works like `std::thread::scope`: jobs may borrow from the caller, and `scope` returns
//! only once every job it spawned has finished (a job's panic is re-raised there).

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;
/// The idle workers: an id and the sender of each one's job channel.
type Idle = Mutex<Vec<(u64, Sender<Job>)>>;

/// How long a worker waits for a job before it exits.
pub(crate) const IDLE_EXIT: Duration = Duration::from_secs(10);

fn idle() -> &'static Idle {
    static IDLE: OnceLock<Idle> = OnceLock::new();
    IDLE.get_or_init(Default::default)
}

fn lock_idle() -> std::sync::MutexGuard<'static, Vec<(u64, Sender<Job>)>> {
    idle().lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `job` on an idle worker, or on a new one.
fn execute(mut job: Job) {
    loop {
        let worker = lock_idle().pop();
        match worker {
            Some((_, tx)) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(back)) => job = back, // that worker is gone: try another
            },
            None => break,
        }
    }
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel::<Job>();
    // a job handed to a thread that could not start runs here instead
    let slot = Arc::new(Mutex::new(Some(job)));
    let theirs = slot.clone();
    let started = std::thread::Builder::new()
        .name(format!("hypernodes-worker-{id}"))
        .spawn(move || {
            let first = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(job) = first {
                job();
            }
            work(id, tx, rx);
        });
    if started.is_err() {
        if let Some(job) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            job();
        }
    }
}

/// A worker's loop: offer itself as idle, run what it is sent, exit after [`IDLE_EXIT`] unused.
fn work(id: u64, tx: Sender<Job>, rx: Receiver<Job>) {
    loop {
        lock_idle().push((id, tx.clone()));
        let job = match rx.recv_timeout(IDLE_EXIT) {
            Ok(job) => job,
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let mut idle = lock_idle();
                if let Some(pos) = idle.iter().position(|(i, _)| *i == id) {
                    idle.swap_remove(pos);
                    return;
                }
                drop(idle);
                // taken from the idle list just now: its job is on the way
                match rx.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
        job();
    }
}

struct State {
    pending: Mutex<usize>,
    done: Condvar,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// Jobs borrowing from the stack frame of a [`scope`] call.
pub(crate) struct Scope<'env> {
    state: Arc<State>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'env> Scope<'env> {
    /// Runs `f` on a pool worker; the enclosing [`scope`] waits for it.
    pub(crate) fn spawn<F: FnOnce() + Send + 'env>(&self, f: F) {
        *self.state.pending.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let state = self.state.clone();
        let job: Box<dyn FnOnce() + Send + 'env> = Box::new(move || {
            if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
                state
                    .panic
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(p);
            }
            let mut n = state.pending.lock().unwrap_or_else(|e| e.into_inner());
            *n -= 1;
            if *n == 0 {
                state.done.notify_all();
            }
        });
        // SAFETY: `scope` does not return (nor unwind) before this job has run to its end (it waits
        // for `pending` to reach zero), so nothing the job borrows for 'env is gone while it runs.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'env>, Job>(job) };
        execute(job);
    }

    fn wait(&self) {
        let mut n = self.state.pending.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.state.done.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Calls `f` with a [`Scope`] whose jobs run on pool workers, and returns once all of them have
/// finished. A panic of `f` or of a job is re-raised after that.
pub(crate) fn scope<'env, R>(f: impl FnOnce(&Scope<'env>) -> R) -> R {
    let scope = Scope {
        state: Arc::new(State {
            pending: Mutex::new(0),
            done: Condvar::new(),
            panic: Mutex::new(None),
        }),
        _env: PhantomData,
    };
    let out = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.wait();
    if let Some(p) = scope
        .state
        .panic
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        resume_unwind(p);
    }
    match out {
        Ok(r) => r,
        Err(p) => resume_unwind(p),
    }
}

/// The number of idle pool workers.
#[cfg(test)]
fn idle_workers() -> usize {
    lock_idle().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn jobs_borrow_from_the_caller_and_finish_before_scope_returns() {
        let hits = AtomicUsize::new(0);
        let data = [1, 2, 3];
        scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(5));
                    hits.fetch_add(data.iter().sum::<usize>(), Ordering::SeqCst);
                });
            }
        });
        assert_eq!(hits.load(Ordering::SeqCst), 48);
    }

    #[test]
    fn workers_are_reused_across_scopes() {
        let names = Mutex::new(std::collections::HashSet::new());
        for _ in 0..20 {
            scope(|s| {
                s.spawn(|| {
                    let id = std::thread::current().id();
                    names.lock().unwrap().insert(format!("{id:?}"));
                })
            });
            // let the worker offer itself as idle again
            while idle_workers() == 0 {
                std::thread::yield_now();
            }
        }
        // other tests run jobs concurrently, but some thread ran more than one of the 20 jobs
        assert!(
            names.lock().unwrap().len() < 20,
            "{:?}",
            names.lock().unwrap()
        );
    }

    #[test]
    fn a_job_panic_is_raised_by_scope_after_the_other_jobs_finished() {
        let finished = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            scope(|s| {
                s.spawn(|| panic!("boom"));
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            })
        }));
        assert!(r.is_err());
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn nested_scopes_never_wait_for_a_busy_pool() {
        // each level blocks its worker while its children run: a bounded pool would deadlock
        fn level(depth: usize, count: &AtomicUsize) {
            count.fetch_add(1, Ordering::SeqCst);
            if depth == 0 {
                return;
            }
            scope(|s| {
                for _ in 0..3 {
                    s.spawn(|| level(depth - 1, count));
                }
            });
        }
        let count = AtomicUsize::new(0);
        level(3, &count);
        assert_eq!(count.load(Ordering::SeqCst), 1 + 3 + 9 + 27);
    }
}
