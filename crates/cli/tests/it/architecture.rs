//! Architecture invariants, phrased as absences and checked on the source tree.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifest_deps(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            deps.push(name.trim().to_owned());
        }
    }
    deps
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

const IO_CRATES: &[&str] =
    &["tokio", "rusqlite", "postgres", "axum", "hyper", "reqwest", "rand", "async-trait", "lettre", "tracing", "tower"];

#[test]
fn the_domain_crate_depends_on_no_io_crate() {
    let deps = manifest_deps("domain");
    for dep in &deps {
        assert!(!IO_CRATES.contains(&dep.as_str()), "lineout-domain must not depend on {dep}");
    }
    for file in rust_files(&workspace().join("crates/domain/src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for banned in
            ["std::fs", "std::net", "std::thread", "std::time::SystemTime", "now_utc", "std::env", "std::process"]
        {
            assert!(!text.contains(banned), "{} uses {banned}", file.display());
        }
    }
}

/// The one file outside the store allowed to hold SQL: the benchmark's reference
/// workload measures raw SQLite on a scratch table of its own (not lineout's schema,
/// not through the ports) to show what the disk can do at all.
const SQL_EXCEPTIONS: &[&str] = &["crates/cli/src/bench/reference.rs"];

#[test]
fn sql_lives_only_in_the_store() {
    for krate in ["domain", "app", "adapters", "web", "cli", "ivr", "documents"] {
        for file in rust_files(&workspace().join("crates").join(krate).join("src")) {
            if SQL_EXCEPTIONS.iter().any(|e| file.ends_with(e)) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for sql in ["SELECT ", "INSERT INTO", "UPDATE cases", "DELETE FROM", "CREATE TABLE"] {
                assert!(!text.contains(sql), "{} contains SQL ({sql})", file.display());
            }
        }
    }
}

#[test]
fn http_types_live_only_in_web_and_cli() {
    for krate in ["domain", "app", "store", "adapters", "ivr", "documents"] {
        let deps = manifest_deps(krate);
        for http in ["axum", "hyper", "tower", "utoipa"] {
            assert!(!deps.iter().any(|d| d == http), "lineout-{krate} must not depend on {http}");
        }
    }
}

#[test]
fn every_source_file_says_what_it_holds() {
    for file in rust_files(&workspace().join("crates")) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("//!"), "{} must start with a //! comment", file.display());
    }
}
