//! Hooks that fronts install for code that blocks on other threads. The Python binding uses the
//! blocking hook to release the interpreter lock while the engine waits for worker threads that
//! call Python, and the interrupt hook to notice Ctrl-C while it waits.

use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;
use std::time::Duration;

type Hook = Box<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the blocking hook (once per process; later calls are ignored).
pub fn set_blocking_hook(hook: impl Fn(&mut dyn FnMut()) + Send + Sync + 'static) {
    let _ = HOOK.set(Box::new(hook));
}

/// Runs `f`, which waits on other threads, through the installed hook.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let Some(hook) = HOOK.get() else {
        return f();
    };
    let mut f = Some(f);
    let mut out = None;
    hook(&mut || out = Some((f.take().expect("the hook runs its closure once"))()));
    out.expect("the blocking hook must run its closure")
}

type Interrupt = Box<dyn Fn() -> bool + Send + Sync>;

static INTERRUPT: OnceLock<Interrupt> = OnceLock::new();

/// How often a waiting thread asks the interrupt hook.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Installs the interrupt hook (once per process): called by a thread that waits on others, about
/// every 100 ms; `true` means the user interrupted (Ctrl-C), and the run stops starting new work.
pub fn set_interrupt_hook(hook: impl Fn() -> bool + Send + Sync + 'static) {
    let _ = INTERRUPT.set(Box::new(hook));
}

/// Whether the front reports an interrupt; sets `cancel` when it does.
pub(crate) fn interrupted(cancel: &AtomicBool) -> bool {
    let hit = INTERRUPT.get().is_some_and(|hook| hook());
    if hit {
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    hit
}
