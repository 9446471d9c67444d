//! Reading results: `try_get` says whether a name is unknown (suggesting the closest) or the type
//! differs (naming both); `take` moves a value out without a clone when nothing else holds it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hypernodes::{inputs, node, MemoryCache, OutputError, Pipeline, Setting};

static CLONES: AtomicUsize = AtomicUsize::new(0);
/// The tests that clone a `Report` run one at a time, so that each counts only its own clones.
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A large value that counts its clones.
#[derive(Debug, PartialEq)]
struct Report {
    lines: Vec<String>,
}

impl Clone for Report {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, Ordering::SeqCst);
        Report {
            lines: self.lines.clone(),
        }
    }
}

#[node(output = "report")]
fn build_report(n: usize) -> Report {
    Report {
        lines: (0..n).map(|i| format!("line {i}")).collect(),
    }
}

#[node(output = "line_count")]
fn count_lines(report: &Report) -> usize {
    report.lines.len()
}

fn pipeline() -> Pipeline {
    Pipeline::new([build_report::node(), count_lines::node()]).unwrap()
}

#[test]
fn try_get_names_an_unknown_output_and_suggests_the_closest() {
    let out = pipeline().run(inputs! {"n" => 3_usize}, None).unwrap();
    let err = out.try_get::<usize>("line_cont").unwrap_err();
    assert_eq!(
        err,
        OutputError::Unknown {
            name: "line_cont".into(),
            available: vec!["report".into(), "line_count".into()],
            suggestion: Some("line_count".into()),
        }
    );
    assert_eq!(
        err.to_string(),
        "no output 'line_cont' (did you mean 'line_count'?); the outputs are: report, line_count"
    );
    assert_eq!(out.try_get::<usize>("line_count"), Ok(&3));
}

#[test]
fn try_get_names_both_types_when_the_type_differs() {
    let out = pipeline().run(inputs! {"n" => 1_usize}, None).unwrap();
    let err = out.try_get::<i64>("line_count").unwrap_err();
    assert_eq!(err.to_string(), "output 'line_count' is a usize, not a i64");
    // a user type is named through the pipeline's own port types
    let err = out.try_get::<String>("report").unwrap_err();
    let OutputError::WrongType {
        actual, expected, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((actual.as_str(), expected.as_str()), ("Report", "String"));
}

#[test]
fn take_moves_the_value_out_without_a_clone() {
    let _serial = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = pipeline().run(inputs! {"n" => 1000_usize}, None).unwrap();
    let before = CLONES.load(Ordering::SeqCst);
    let report: Report = out.take("report").unwrap();
    assert_eq!(report.lines.len(), 1000);
    assert_eq!(
        CLONES.load(Ordering::SeqCst),
        before,
        "take cloned the value"
    );
    assert!(out.value("report").is_none(), "the output is removed");
    assert_eq!(out.names().collect::<Vec<_>>(), ["line_count"]);
    // errors leave the outputs as they were
    assert!(matches!(
        out.take::<String>("line_count"),
        Err(OutputError::WrongType { .. })
    ));
    assert!(matches!(
        out.take::<usize>("report"),
        Err(OutputError::Unknown { .. })
    ));
    assert_eq!(out.take::<usize>("line_count"), Ok(1000));
}

#[test]
fn take_clones_a_value_a_cache_still_holds() {
    let _serial = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let p = pipeline().with_cache(Setting::On(Arc::new(MemoryCache::new())));
    let mut out = p.run(inputs! {"n" => 2_usize}, None).unwrap();
    let held = out.value("report").cloned().unwrap();
    let report: Report = out.take("report").unwrap();
    assert_eq!(report.lines, ["line 0", "line 1"]);
    // the shared copy is untouched
    assert_eq!(held.downcast_ref::<Report>(), Some(&report));
}
