//! Which side of a fork this process is on: a counter that a forked child increments, cheaper to
//! read than the process id (a system call) on every lookup.

use std::sync::atomic::{AtomicU64, Ordering};

static EPOCH: AtomicU64 = AtomicU64::new(1);

#[cfg(unix)]
extern "C" fn in_child() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// A number that changes in a process forked from this one (never 0).
pub(super) fn epoch() -> u64 {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: registers a handler that only increments an atomic, which is async-signal-safe.
        ONCE.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        });
    }
    EPOCH.load(Ordering::Relaxed)
}
