//! Quick start: measure the Rust sources of this crate with a nested, mapped pipeline.
//!
//! `per_file` handles one file (read it, count its lines, functions and tests). The `project`
//! pipeline lists the files, maps `per_file` over them as a nested node, and summarizes.
//!
//! Run it with `cargo run -p hypernodes --example quickstart` (optionally pass a directory).

use std::path::{Path, PathBuf};

use hypernodes::{inputs, node, AsNode, MapMode, Pipeline};

// ---- one file ----

#[node(output = "text")]
fn read_source(path: String) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

#[node(output = "lines")]
fn count_lines(text: String) -> usize {
    text.lines().filter(|l| !l.trim().is_empty()).count()
}

#[node(outputs = ("fns", "tests"))]
fn count_items(text: String) -> (usize, usize) {
    let trimmed = || text.lines().map(str::trim_start);
    let fns = trimmed()
        .filter(|l| {
            l.starts_with("fn ") || l.starts_with("pub fn ") || l.starts_with("pub(crate) fn ")
        })
        .count();
    let tests = trimmed().filter(|l| l.starts_with("#[test]")).count();
    (fns, tests)
}

// ---- the project ----

#[node(output = "paths")]
fn list_sources(root: String) -> std::io::Result<Vec<String>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(Path::new(&root), &mut found)?;
    found.sort();
    Ok(found.into_iter().map(|p| p.display().to_string()).collect())
}

fn relative<'a>(path: &'a str, root: &str) -> &'a str {
    path.strip_prefix(root)
        .map_or(path, |p| p.trim_start_matches('/'))
}

#[node(output = "summary")]
fn summarize(
    root: String,
    paths: Vec<String>,
    lines_per_file: Vec<usize>,
    fns_per_file: Vec<usize>,
) -> String {
    let total_lines: usize = lines_per_file.iter().sum();
    let total_fns: usize = fns_per_file.iter().sum();
    let mut rows: Vec<(usize, usize, &str)> = paths
        .iter()
        .zip(&lines_per_file)
        .zip(&fns_per_file)
        .map(|((p, &l), &f)| (l, f, relative(p, &root)))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(b.2)));
    let mut s = format!(
        "{} files, {total_lines} non-blank lines, {total_fns} functions\nlargest files:\n",
        paths.len()
    );
    for (lines, fns, path) in rows.iter().take(5) {
        s += &format!("  {lines:>5} lines {fns:>4} fns  {path}\n");
    }
    s
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").to_string());

    // One file: nodes in any order; they are wired by parameter names.
    let per_file = Pipeline::new([
        count_items::node(),
        count_lines::node(),
        read_source::node(),
    ])?
    .with_name("per_file");
    println!(
        "per_file needs {:?} and gives {:?}",
        per_file.inputs(),
        per_file.outputs()
    );

    // As a node of the project pipeline, mapped over the list of paths: it takes `paths` (a list)
    // and gives lists, one element per file. Only the mapped outputs are exposed (and computed).
    let per_file_node = per_file.as_node(AsNode {
        name: Some("measure_files".into()),
        input_mapping: [("paths".to_string(), "path".to_string())].into(),
        output_mapping: Some(
            [
                ("lines".to_string(), "lines_per_file".to_string()),
                ("fns".to_string(), "fns_per_file".to_string()),
            ]
            .into(),
        ),
        map_over: vec!["paths".into()],
        map_mode: MapMode::Zip,
        cache: None,
    })?;
    let project = Pipeline::new([summarize::node(), per_file_node, list_sources::node()])?
        .with_name("project");
    println!(
        "project needs {:?} and gives {:?}\n",
        project.inputs(),
        project.outputs()
    );

    let out = project.run(inputs! {"root" => root.clone()}, None)?;
    print!("{}", out.get::<String>("summary").expect("a summary"));

    // The same per-file pipeline mapped directly, asking only for the test counts.
    let paths = out
        .get::<Vec<String>>("paths")
        .expect("the listed paths")
        .clone();
    let tests = per_file.map(
        inputs! {"path" => paths},
        &["path".to_string()],
        MapMode::Zip,
        Some(&["tests".to_string()]),
    )?;
    let total_tests: usize = tests.iter().filter_map(|o| o.get::<usize>("tests")).sum();
    println!("\n#[test] functions under {root}: {total_tests}");

    // Errors name the node and the pipeline path, and keep the original error.
    let missing = project.run(inputs! {"root" => format!("{root}/does-not-exist")}, None);
    if let Err(err) = missing {
        println!("\nan expected error:\n{err}");
    }
    Ok(())
}
