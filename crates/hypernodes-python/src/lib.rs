//! Python bindings of HyperNodes, built by maturin into `hypernodes._core`. Thin: each class wraps an
//! engine object, and Python values pass through untouched.

mod cache;
mod callbacks;
mod code;
mod convert;
mod errors;
mod executor;
mod framework;
mod hashing;
mod node;
mod observe;
mod offload;
mod pipeline;
mod py_executor;
mod py_modules;
mod store;
mod values;

use pyo3::prelude::*;

extern "C" {
    /// Whether this thread holds the interpreter lock (CPython API, present since 3.4).
    fn PyGILState_Check() -> std::os::raw::c_int;
}

/// Moves the engine's waiting closure into `detach`; it runs on this same thread.
struct AssertSend<'a>(&'a mut dyn FnMut());
// SAFETY: `detach` runs the closure on the calling thread; it never crosses threads.
unsafe impl Send for AssertSend<'_> {}

/// The compiled core of the `hypernodes` package.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The engine waits on worker threads that call Python: let them take the interpreter lock.
    hypernodes::executor_api::set_blocking_hook(|f| {
        // SAFETY: PyGILState_Check only reads the current thread's state.
        if unsafe { PyGILState_Check() } == 1 {
            let f = AssertSend(f);
            Python::attach(|py| {
                py.detach(move || {
                    let f = f;
                    (f.0)()
                })
            });
        } else {
            f();
        }
    });
    // A thread waiting on others asks here about every 100 ms whether Ctrl-C was pressed (Python
    // runs its signal handlers in the main thread only; elsewhere this finds nothing).
    hypernodes::executor_api::set_interrupt_hook(|| {
        Python::attach(|py| py.check_signals().is_err())
    });
    hypernodes::set_warning_hook(|msg| {
        Python::attach(|py| {
            let category = crate::py_modules::errors(py).and_then(|m| m.getattr("CacheWarning"));
            if let Ok(category) = category {
                let msg = std::ffi::CString::new(msg.replace('\0', " ")).unwrap_or_default();
                if let Err(e) = PyErr::warn(py, &category, &msg, 1) {
                    e.write_unraisable(py, None);
                }
            }
        })
    });
    m.add_class::<node::PyNode>()?;
    m.add_class::<observe::PyRunTree>()?;
    m.add_class::<framework::PyRunContext>()?;
    m.add_class::<framework::PyNodeStep>()?;
    m.add_function(wrap_pyfunction!(framework::node_identity, m)?)?;
    m.add_function(wrap_pyfunction!(framework::value_key, m)?)?;
    m.add_function(wrap_pyfunction!(framework::continues_on_error, m)?)?;
    m.add_function(wrap_pyfunction!(framework::place_note, m)?)?;
    m.add_class::<cache::PyMemoryCache>()?;
    m.add_class::<cache::PyDiskCache>()?;
    m.add_function(wrap_pyfunction!(cache::_flush_disk_caches, m)?)?;
    m.add_class::<pipeline::PyPipeline>()?;
    m.add_class::<executor::PyNodeExecutor>()?;
    m.add_function(wrap_pyfunction!(hashing::hash_value, m)?)?;
    m.add_function(wrap_pyfunction!(code::code_identity, m)?)?;
    m.add_function(wrap_pyfunction!(code::is_user_module_py, m)?)?;
    code::init(m.py())?;
    // BLAKE3 detects the CPU's SIMD features on its first use (`cpuid`, slow under some VMs): once
    // here, when the module loads, rather than in the first cached run.
    let _ = blake3::hash(b"");
    Ok(())
}
