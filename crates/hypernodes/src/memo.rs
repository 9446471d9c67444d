//! Memoized values whose computation may wait on something outside the engine, such as a front's
//! interpreter lock (Python's GIL).
//!
//! `OnceLock::get_or_init` blocks every other thread while one computes. If the computing thread
//! then waits for the interpreter lock that a blocked thread holds, neither can go on. [`memoize`]
//! computes without holding any lock: threads that race may each compute (the values of a memo
//! are deterministic), and the first value stored is the one every caller gets.

use std::sync::OnceLock;

/// The value in `cell`, computing it with `f` when absent (never blocking on another thread's
/// computation; see the module doc).
pub fn memoize<T: Clone>(cell: &OnceLock<T>, f: impl FnOnce() -> T) -> T {
    if let Some(v) = cell.get() {
        return v.clone();
    }
    let v = f();
    let _ = cell.set(v);
    cell.get().expect("a value was just stored").clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn computes_once_without_races_and_keeps_the_first_value() {
        let cell = OnceLock::new();
        let calls = AtomicUsize::new(0);
        let f = || {
            calls.fetch_add(1, Ordering::SeqCst);
            7
        };
        assert_eq!(memoize(&cell, f), 7);
        assert_eq!(memoize(&cell, || 8), 7, "the stored value wins");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_computation_may_wait_on_another_memoizing_thread() {
        // With get_or_init, thread B would block on the cell while holding `lock`, and thread A
        // (computing) would wait for `lock`: a deadlock. memoize lets both finish.
        let cell: OnceLock<u32> = OnceLock::new();
        let (a_started_tx, a_started_rx) = std::sync::mpsc::channel();
        let (b_holds_tx, b_holds_rx) = std::sync::mpsc::channel();
        // Run on a thread of its own so that a deadlock fails the test instead of hanging it.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let cell: &'static OnceLock<u32> = Box::leak(Box::new(cell));
        let lock: &'static std::sync::Mutex<()> = Box::leak(Box::new(std::sync::Mutex::new(())));
        std::thread::spawn(move || {
            std::thread::scope(|s| {
                let a = s.spawn(move || {
                    memoize(cell, || {
                        a_started_tx.send(()).unwrap();
                        b_holds_rx.recv().unwrap();
                        let _g = lock.lock().unwrap(); // waits until B lets go
                        1
                    })
                });
                let b = s.spawn(move || {
                    a_started_rx.recv().unwrap();
                    let _g = lock.lock().unwrap();
                    b_holds_tx.send(()).unwrap();
                    memoize(cell, || 2) // must not wait for A while holding `lock`
                });
                let (a, b) = (a.join().unwrap(), b.join().unwrap());
                done_tx.send(a == b).unwrap();
            })
        });
        // A hang guard, not a speed check: the two threads need microseconds.
        let same = done_rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(
            same,
            Ok(true),
            "deadlocked, or the callers got different values"
        );
    }
}
