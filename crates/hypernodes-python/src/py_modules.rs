//! The one place the binding finds the Python package: each module it calls into is imported once
//! (per interpreter) and kept, so a renamed private module fails at the first call of any kind,
//! named here, rather than at one call site among many. Exception classes are `errors::*`
//! (`import_exception!`, cached the same way).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

macro_rules! modules {
    ($($(#[$doc:meta])* $fn:ident = $name:literal;)*) => {$(
        $(#[$doc])*
        pub(crate) fn $fn(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
            static CELL: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
            CELL.get_or_try_init(py, || py.import($name).map(Bound::unbind))
                .map(|m| m.bind(py))
        }
    )*};
}

modules! {
    /// `hypernodes.callbacks`: `Callback`, `CallbackContext`, `_dispatch`.
    callbacks = "hypernodes.callbacks";
    /// `hypernodes.errors`: the warning category `CacheWarning`.
    errors = "hypernodes.errors";
    /// `hypernodes._parallel`: process pools for parallel maps and nodes.
    parallel = "hypernodes._parallel";
    /// `hypernodes._aio`: the event loop thread that runs coroutines of async nodes.
    aio = "hypernodes._aio";
    /// `hypernodes.dual`: batch calls of dual nodes.
    dual = "hypernodes.dual";
    /// `hypernodes._pickle`: how nodes and pipelines pickle.
    pickling = "hypernodes._pickle";
    /// `hypernodes._renamed`: errors for names of the original HyperNodes.
    renamed = "hypernodes._renamed";
    /// `hypernodes._viz`: pictures and inspection.
    viz = "hypernodes._viz";
    /// `hypernodes._viz.inspect`: reprs.
    viz_inspect = "hypernodes._viz.inspect";
    /// `hypernodes._store`: the disk cache's value format.
    store = "hypernodes._store";
    /// `hypernodes._code`: which modules are the user's.
    code = "hypernodes._code";
}
