//! Engine errors as Python exceptions (classes defined in `hypernodes.errors`); node exceptions are
//! re-raised with their original type and a note naming the node and the pipeline path.

use hypernodes::{Error, MapError};
use pyo3::prelude::*;

fn raise(py: Python<'_>, class: &str, msg: String) -> PyErr {
    match py
        .import("hypernodes.errors")
        .and_then(|m| m.getattr(class))
    {
        Ok(cls) => match cls.call1((msg.clone(),)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        },
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(msg),
    }
}

/// Converts an engine error into the Python exception users see.
pub fn to_pyerr(err: Error) -> PyErr {
    Python::attach(|py| match err {
        Error::Node { node, path, source } => {
            let note = format!("in node '{node}' of pipeline '{}'", path.join(" > "));
            match source.downcast::<PyErr>() {
                Ok(pyerr) => {
                    let pyerr = *pyerr;
                    let _ = pyerr.value(py).call_method1("add_note", (note,));
                    pyerr
                }
                Err(other) => raise(py, "HyperNodesError", format!("{other}\n  {note}")),
            }
        }
        Error::Foreign(source) => match source.downcast::<PyErr>() {
            Ok(pyerr) => *pyerr,
            Err(other) => raise(py, "HyperNodesError", other.to_string()),
        },
        other => {
            let class = match &other {
                Error::DuplicateOutput { .. } | Error::DuplicateNode(_) => "DependencyError",
                Error::Cycle { .. } => "CycleError",
                Error::MissingInputs { .. } => "MissingInputError",
                Error::UnknownOutput { .. } => "UnknownOutputError",
                Error::UnknownInput { .. } => "UnknownInputError",
                Error::Arity { .. } => "OutputArityError",
                Error::TypeMismatch { .. } | Error::BadArgument { .. } => "DependencyError",
                Error::Map(MapError::NotASequence { .. }) => "MapInputTypeError",
                Error::Map(_) => "MapInputError",
                Error::Config(_) => "ConfigurationError",
                Error::Node { .. } | Error::Foreign(_) => unreachable!("handled above"),
            };
            raise(py, class, other.to_string())
        }
    })
}

/// A configuration error (bad argument to a constructor or method).
pub fn config_error(msg: impl Into<String>) -> PyErr {
    Python::attach(|py| raise(py, "ConfigurationError", msg.into()))
}
