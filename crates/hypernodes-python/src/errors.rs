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
            if let Error::Map(map) = &other {
                let _ = set_map_attributes(err.value(py), map);
            }
            err
        }
    })
}

/// The documented attributes of a `MapInputError` (`pipeline`, `input`, `lengths`, and `reason`
/// of a `MapInputTypeError`): what the map error says, for users, and for [`from_pyerr`] to turn
/// the exception back into the engine's error when it passes through an executor written in
/// Python.
fn set_map_attributes(exc: &Bound<'_, PyAny>, map: &MapError) -> PyResult<()> {
    match map {
        MapError::AbsentInput { pipeline, name } => {
            exc.setattr("pipeline", pipeline)?;
            exc.setattr("input", name)
        }
        MapError::NotASequence {
            pipeline,
            name,
            reason,
        } => {
            exc.setattr("pipeline", pipeline)?;
            exc.setattr("input", name)?;
            exc.setattr("reason", reason)
        }
        MapError::LengthMismatch { pipeline, lengths } => {
            exc.setattr("pipeline", pipeline)?;
            let lengths = pyo3::types::PyTuple::new(exc.py(), lengths.iter().cloned())?;
            exc.setattr("lengths", lengths)
        }
        MapError::Empty { pipeline } => exc.setattr("pipeline", pipeline),
        MapError::UnknownMode(_) => Ok(()),
    }
}

/// The engine error for an exception an executor written in Python raised: a `MapInputError`
/// that names its pipeline (raised by `Pipeline._map_items`; see [`set_map_attributes`]) becomes
/// the engine's map error again, so that a pipeline node can name the outer inputs in it; a
/// `KeyboardInterrupt` stops the run; anything else passes through as it is.
pub fn from_pyerr(err: PyErr) -> Error {
    let interrupt =
        Python::attach(|py| err.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py));
    if interrupt {
        return Error::Interrupted;
    }
    let map = Python::attach(|py| map_error(err.value(py)).ok().flatten());
    match map {
        Some(map) => Error::Map(map),
        None => Error::Foreign(Box::new(err)),
    }
}

/// The engine's map error that a `MapInputError`'s attributes describe (`None` for any other
/// exception, or one HyperNodes did not raise for a checked map).
fn map_error(exc: &Bound<'_, PyAny>) -> PyResult<Option<MapError>> {
    if !exc.is_instance_of::<MapInputError>() {
        return Ok(None);
    }
    let Some(pipeline) = exc.getattr("pipeline")?.extract::<Option<String>>()? else {
        return Ok(None);
    };
    let input: Option<String> = exc.getattr("input")?.extract()?;
    let lengths: Option<Vec<(String, usize)>> = exc.getattr("lengths")?.extract()?;
    Ok(Some(match (lengths, input) {
        (Some(lengths), _) => MapError::LengthMismatch { pipeline, lengths },
        (None, Some(name)) if exc.is_instance_of::<MapInputTypeError>() => MapError::NotASequence {
            pipeline,
            name,
            reason: exc
                .getattr("reason")?
                .extract::<Option<String>>()?
                .unwrap_or_default(),
        },
        (None, Some(name)) => MapError::AbsentInput { pipeline, name },
        // nothing for a pipeline node to rename: it passes through as it is
        (None, None) => return Ok(None),
    }))
}

/// A configuration error (bad argument to a constructor or method).
pub fn config_error(msg: impl Into<String>) -> PyErr {
    ConfigurationError::new_err(msg.into())
}
