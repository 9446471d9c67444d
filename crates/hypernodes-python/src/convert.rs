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

/// Pipeline names given as one name or an iterable of names (`output_name`, `map_over`); anything
/// else is a `ConfigurationError` showing what was given.
pub(crate) struct Names(pub(crate) Vec<String>);

impl<'a, 'py> FromPyObject<'a, 'py> for Names {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let names = crate::pipeline::names_arg(Some(&obj.to_owned()))?;
        Ok(Names(names.unwrap_or_default()))
    }
}

/// The names of an optional `Names` argument.
pub(crate) fn names(arg: Option<Names>) -> Option<Vec<String>> {
    arg.map(|n| n.0)
}
