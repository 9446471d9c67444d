//! Compile-fail tests of `#[node]`: each file under `tests/ui` makes one mistake, and its `.stderr`
//! pins the error the user sees (regenerate with `TRYBUILD=overwrite cargo test -p hypernodes-macros
//! --test ui`, then review the diff).

#[test]
fn node_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
