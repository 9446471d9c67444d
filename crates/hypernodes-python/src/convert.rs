//! Arguments converted once, by type: `Wrap<T>` reads an engine setting from its Python spelling
//! (`"threaded"`, `"zip"`, `"continue"`) through the engine's `FromStr`, whose error names the
//! setting and the values it takes (raised as `ConfigurationError`).

use std::str::FromStr;

use pyo3::prelude::*;

use crate::errors::to_pyerr;

/// An engine value read from its Python spelling (see the module documentation).
pub(crate) struct Wrap<T>(pub(crate) T);

impl<'a, 'py, T: FromStr<Err = hypernodes::Error>> FromPyObject<'a, 'py> for Wrap<T> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let text: &str = obj.extract()?;
        text.parse().map(Wrap).map_err(to_pyerr)
    }
}
