//! Engine errors as Python exceptions (classes defined in `hypernodes.errors`); node exceptions are
//! re-raised with their original type and a note naming the node and the pipeline path.

use hypernodes::{Error, MapError};
use pyo3::prelude::*;

// The exception classes of `hypernodes.errors`, each looked up once (pyo3 caches the type).
pyo3::import_exception!(hypernodes.errors, HyperNodesError);
pyo3::import_exception!(hypernodes.errors, DependencyError);
pyo3::import_exception!(hypernodes.errors, CycleError);
pyo3::import_exception!(hypernodes.errors, MissingInputError);
pyo3::import_exception!(hypernodes.errors, UnknownOutputError);
pyo3::import_exception!(hypernodes.errors, UnknownInputError);
pyo3::import_exception!(hypernodes.errors, OutputArityError);
pyo3::import_exception!(hypernodes.errors, MapInputTypeError);
pyo3::import_exception!(hypernodes.errors, MapInputError);
pyo3::import_exception!(hypernodes.errors, ConfigurationError);

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
                Err(other) => HyperNodesError::new_err(format!("{other}\n  {note}")),
            }
        }
        Error::Interrupted => {
            pyo3::exceptions::PyKeyboardInterrupt::new_err(Error::Interrupted.to_string())
        }
        Error::Foreign(source) => match source.downcast::<PyErr>() {
            Ok(pyerr) => *pyerr,
            Err(other) => HyperNodesError::new_err(other.to_string()),
        },
        other => {
            let detail = match &other {
                Error::Map(map) => map_detail(py, map),
                _ => None,
            };
            let msg = other.to_string();
            let err = match &other {
                Error::DuplicateOutput { .. } | Error::DuplicateNode(_) => {
                    DependencyError::new_err(msg)
                }
                Error::Cycle { .. } => CycleError::new_err(msg),
                Error::MissingInputs { .. } => MissingInputError::new_err(msg),
                Error::UnknownOutput { .. } => UnknownOutputError::new_err(msg),
                Error::UnknownInput { .. } => UnknownInputError::new_err(msg),
                Error::Arity { .. } | Error::BatchLength { .. } => OutputArityError::new_err(msg),
                Error::TypeMismatch { .. }
                | Error::BadArgument { .. }
                | Error::InputType { .. }
                | Error::InputTypeConflict(_) => DependencyError::new_err(msg),
                Error::Map(MapError::NotASequence { .. }) => MapInputTypeError::new_err(msg),
                Error::Map(_) => MapInputError::new_err(msg),
                Error::Config(_) => ConfigurationError::new_err(msg),
                Error::BatchFailed { .. } => HyperNodesError::new_err(msg),
                Error::Node { .. } | Error::Foreign(_) | Error::Interrupted => {
                    unreachable!("handled above")
                }
            };
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
    ConfigurationError::new_err(msg.into())
}
