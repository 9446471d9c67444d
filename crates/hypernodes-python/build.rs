//! Lays out the extension's machine code for a fresh process: the functions a process runs from
//! `import hypernodes` to the end of its first cached run (`symbol-order.txt`, made by
//! `scripts/symbol_order.py`) are placed next to each other, so that process touches about 130
//! pages of code instead of about 330 (each first touch of a page costs a fresh process time).
//!
//! Only where the linker is LLD, the default of Rust (1.90 and later) on x86_64 Linux, and
//! nothing in the build chose another linker. `HYPERNODES_NO_SYMBOL_ORDER=1` turns it off. Names
//! missing from the build (after code changes) are skipped by the linker without a word.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=HYPERNODES_NO_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("symbol-order.txt");
    if env::var_os("HYPERNODES_NO_SYMBOL_ORDER").is_some_and(|v| v != "0")
        || env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
        || chooses_linker(&env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default())
        || !rustc_links_with_lld()
        || !order.is_file()
    {
        return;
    }
    // each passed to the linker as it is (a path may hold a comma, which `-Wl,` would split at)
    for arg in [
        format!("--symbol-ordering-file={}", order.display()),
        "--no-warn-symbol-ordering".to_string(),
    ] {
        println!("cargo:rustc-link-arg-cdylib=-Xlinker");
        println!("cargo:rustc-link-arg-cdylib={arg}");
    }
}

/// Whether the flags pick a linker or linker flavor of their own.
fn chooses_linker(flags: &str) -> bool {
    flags
        .split('\x1f')
        .any(|f| f.contains("linker") || f.contains("link-self-contained") || f.contains("fuse-ld"))
}

/// Whether this rustc links x86_64 Linux code with its own LLD by default (1.90 and later).
fn rustc_links_with_lld() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let mut parts = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 1 || (major == 1 && minor >= 90)
}
