//! A hook that fronts install to run code that blocks on other threads. The Python binding uses it to
//! release the interpreter lock while the engine waits for worker threads that call Python.

use std::sync::OnceLock;

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
