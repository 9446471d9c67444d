//! Python bindings of HyperNodes, built by maturin into `hypernodes._core`. Thin: each class wraps an
//! engine object, and Python values pass through untouched.

mod errors;
mod executor;
mod node;
mod pipeline;
mod values;

use pyo3::prelude::*;

/// The compiled core of the `hypernodes` package.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<node::PyNode>()?;
    m.add_class::<pipeline::PyPipeline>()?;
    m.add_class::<executor::PyNodeExecutor>()?;
    Ok(())
}
