//! Warnings the engine reports without failing (an unreadable cache entry, a value that cannot be
//! stored). Fronts install a hook (Python: `warnings.warn`); the default prints to stderr.

use std::sync::OnceLock;

type Hook = Box<dyn Fn(&str) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the warning hook (once per process; later calls are ignored).
pub fn set_warning_hook(hook: impl Fn(&str) + Send + Sync + 'static) {
    let _ = HOOK.set(Box::new(hook));
}

/// Reports a warning.
pub fn warn(message: &str) {
    match HOOK.get() {
        Some(h) => h(message),
        None => eprintln!("hypernodes warning: {message}"),
    }
}

/// Reports a warning once per `topic` for the life of the process.
pub fn warn_once(topic: &str, message: &str) {
    static SEEN: OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let first = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(format!("{topic}\0{message}"));
    if first {
        warn(message);
    }
}
