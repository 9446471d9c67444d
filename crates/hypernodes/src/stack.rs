//! Enough stack for any depth: pipelines nest without limit, and a node may run pipelines itself
//! (recursively, through a front's API). Each nested pipeline call, root run and identity hash goes
//! through [`with_stack`]: past a few levels on one thread it continues on a new stack segment on
//! the heap when little stack is left, instead of overflowing. The first levels skip the check
//! (finding a thread's stack bounds reads `/proc/self/maps` on Linux's main thread: a cost every
//! fresh process would pay on its first run).

use std::cell::Cell;

/// Levels per thread run without any stack check.
const SHALLOW: usize = 16;
/// Stack left below which work continues on a new stack segment (a node's own code, a Python
/// function say, runs within it).
const RED_ZONE: usize = 512 * 1024;
/// The size of each new stack segment.
const SEGMENT: usize = 8 * 1024 * 1024;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

struct Level;

impl Drop for Level {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `f` with enough stack (see the module's doc).
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    let depth = DEPTH.with(|d| {
        let depth = d.get();
        d.set(depth + 1);
        depth
    });
    let _level = Level;
    if depth < SHALLOW {
        f()
    } else {
        stacker::maybe_grow(RED_ZONE, SEGMENT, f)
    }
}
