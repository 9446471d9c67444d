//! Group commits: one background thread per process commits each disk cache's pending writes once
//! the oldest of them has waited [`WINDOW`] (or sooner, when a batch is full), so a crash loses at
//! most that window of work and throughput never pays one transaction per entry. The end of every
//! root run or map, dropping a cache, and (Python) interpreter exit flush synchronously.

use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// The longest a finished entry waits before its commit starts.
pub(super) const WINDOW: Duration = Duration::from_millis(100);

/// A store with writes to commit.
pub(super) trait Flush: Send + Sync {
    /// When its pending writes are due (`None`: nothing pending).
    fn due(&self) -> Option<Instant>;
    /// Commits its pending writes now.
    fn flush(&self);
    /// Background upkeep between commits (checkpoints of the write-ahead log).
    fn maintain(&self);
    /// At the process's exit: commits everything still recorded and writes the hot file.
    fn at_exit(&self);
    /// At exit, after the last commit: empties the write-ahead log this process wrote to (see
    /// [`flush_all_at_exit`]).
    fn close_log(&self);
}

struct State {
    stores: Vec<Weak<dyn Flush>>,
    /// Stores with something to do only at exit (a hot file to write, uses to commit); not
    /// visited by the flushes at the end of every run.
    at_exit: Vec<Weak<dyn Flush>>,
    woken: bool,
    thread_pid: Option<u64>,
}

struct Registry {
    state: Mutex<State>,
    wake: Condvar,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        state: Mutex::new(State {
            stores: Vec::new(),
            at_exit: Vec::new(),
            woken: false,
            thread_pid: None,
        }),
        wake: Condvar::new(),
    })
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    registry().state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds a store to those the thread watches (once per store).
pub(super) fn register(store: Weak<dyn Flush>) {
    lock().stores.push(store);
}

/// Adds a store to those visited at exit only (once per store).
pub(super) fn register_at_exit(store: Weak<dyn Flush>) {
    let mut state = lock();
    state.at_exit.retain(|w| w.strong_count() > 0);
    state.at_exit.push(store);
}

/// Tells the thread that a store has new pending writes (starting the thread if this process has
/// none yet, as after a fork).
pub(super) fn wake() {
    let mut state = lock();
    let pid = super::fork::epoch();
    if state.thread_pid != Some(pid) {
        let spawned = std::thread::Builder::new()
            .name("hypernodes-cache-commit".into())
            .spawn(run);
        if spawned.is_ok() {
            state.thread_pid = Some(pid);
        }
    }
    state.woken = true;
    registry().wake.notify_one();
}

fn live() -> Vec<Arc<dyn Flush>> {
    let mut state = lock();
    state.stores.retain(|w| w.strong_count() > 0);
    state.stores.iter().filter_map(Weak::upgrade).collect()
}

/// Commits the pending writes of every disk cache in this process, now (and ends the readers'
/// transactions, so that the next lookups see every commit).
pub fn flush_all() {
    for store in live() {
        store.flush();
    }
    super::readers::end_all();
}

/// [`flush_all`], then, for each disk cache this process wrote to, copies its write-ahead log into
/// the index and empties it (the connections are never closed at interpreter exit, so SQLite's
/// own last-close checkpoint does not happen: otherwise the next process to open the index replays
/// the whole log first, about half a millisecond per megabyte of log). With `exiting` (the
/// interpreter's exit, not a worker's flush between batches), also commits the uses served from
/// hot files and writes each cache's hot file, which lets the next process hit without opening
/// the index.
pub fn flush_all_at_exit(exiting: bool) {
    flush_all();
    if exiting {
        let others: Vec<_> = lock().at_exit.iter().filter_map(Weak::upgrade).collect();
        for store in live().into_iter().chain(others) {
            store.at_exit();
        }
    }
    for store in live() {
        store.close_log();
    }
}

fn run() {
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for store in live() {
            match store.due() {
                Some(due) if due <= now => store.flush(),
                Some(due) => next = Some(next.map_or(due, |n| n.min(due))),
                None => {}
            }
            store.maintain();
        }
        super::readers::end_all();
        let mut state = lock();
        if !state.woken {
            state = match next {
                Some(due) => {
                    let wait = due.saturating_duration_since(Instant::now());
                    registry()
                        .wake
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => registry()
                    .wake
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner()),
            };
        }
        state.woken = false;
    }
}
