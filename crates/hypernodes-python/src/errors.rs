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
        Error::Node {
            node,
            path,
            items,
            source,
        } => {
            let note = hypernodes::node_note(&node, &path, &items);
            match source.downcast::<PyErr>() {
                Ok(pyerr) => {
                    let pyerr = *pyerr;
                    let _ = pyerr.value(py).call_method1("add_note", (note,));
                    pyerr
                }
                Err(other) => raise(py, "HyperNodesError", format!("{other}\n  {note}")),
            }
        }
        Error::Interrupted => {
            pyo3::exceptions::PyKeyboardInterrupt::new_err(Error::Interrupted.to_string())
        }
        Error::Foreign(source) => match source.downcast::<PyErr>() {
            Ok(pyerr) => *pyerr,
            Err(other) => raise(py, "HyperNodesError", other.to_string()),
        },
        other => {
            let detail = match &other {
                Error::Map(map) => map_detail(py, map),
                _ => None,
            };
            let class = match &other {
                Error::DuplicateOutput { .. } | Error::DuplicateNode(_) => "DependencyError",
                Error::Cycle { .. } => "CycleError",
                Error::MissingInputs { .. } => "MissingInputError",
                Error::UnknownOutput { .. } => "UnknownOutputError",
                Error::UnknownInput { .. } => "UnknownInputError",
                Error::Arity { .. } | Error::BatchLength { .. } => "OutputArityError",
                Error::TypeMismatch { .. }
                | Error::BadArgument { .. }
                | Error::InputType { .. }
                | Error::InputTypeConflict(_) => "DependencyError",
                Error::Map(MapError::NotASequence { .. }) => "MapInputTypeError",
                Error::Map(_) => "MapInputError",
                Error::Config(_) => "ConfigurationError",
                Error::BatchFailed { .. } => "HyperNodesError",
                Error::Node { .. } | Error::Foreign(_) | Error::Interrupted => {
                    unreachable!("handled above")
                }
            };
            let err = raise(py, class, other.to_string());
            if let Some(detail) = detail {
                let _ = err.value(py).setattr("_map_error", detail);
            }
            err
        }
    })
}

/// A map error's details, carried by its Python exception as `_map_error` so that it turns back
/// into the engine's error when it passes through an executor written in Python (see
/// [`from_pyerr`]).
fn map_detail(py: Python<'_>, map: &MapError) -> Option<Py<PyAny>> {
    let detail = match map {
        MapError::AbsentInput { pipeline, name } => ("absent", pipeline, name).into_pyobject(py),
        MapError::NotASequence {
            pipeline,
            name,
            reason,
        } => ("not_a_sequence", pipeline, name, reason).into_pyobject(py),
        MapError::LengthMismatch { pipeline, lengths } => {
            ("lengths", pipeline, lengths.clone()).into_pyobject(py)
        }
        MapError::UnknownMode(_) | MapError::Empty { .. } => return None,
    };
    detail.ok().map(|d| d.into_any().unbind())
}

/// The engine error for an exception an executor written in Python raised: a map error of the
/// engine's (`Pipeline._map_items`; see [`map_detail`]) becomes the engine's own again, so that a
/// pipeline node can name the outer inputs in it; a `KeyboardInterrupt` stops the run; anything
/// else passes through as it is.
pub fn from_pyerr(err: PyErr) -> Error {
    let interrupt =
        Python::attach(|py| err.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py));
    if interrupt {
        return Error::Interrupted;
    }
    let detail = Python::attach(|py| map_error(err.value(py)).ok().flatten());
    match detail {
        Some(map) => Error::Map(map),
        None => Error::Foreign(Box::new(err)),
    }
}

fn map_error(exc: &Bound<'_, PyAny>) -> PyResult<Option<MapError>> {
    let Ok(detail) = exc.getattr("_map_error") else {
        return Ok(None);
    };
    let kind: String = detail.get_item(0)?.extract()?;
    let pipeline: String = detail.get_item(1)?.extract()?;
    Ok(Some(match kind.as_str() {
        "absent" => MapError::AbsentInput {
            pipeline,
            name: detail.get_item(2)?.extract()?,
        },
        "not_a_sequence" => MapError::NotASequence {
            pipeline,
            name: detail.get_item(2)?.extract()?,
            reason: detail.get_item(3)?.extract()?,
        },
        "lengths" => MapError::LengthMismatch {
            pipeline,
            lengths: detail.get_item(2)?.extract()?,
        },
        _ => return Ok(None),
    }))
}

/// A configuration error (bad argument to a constructor or method).
pub fn config_error(msg: impl Into<String>) -> PyErr {
    Python::attach(|py| raise(py, "ConfigurationError", msg.into()))
}
