//! Imports point one way (docs/ARCHITECTURE.md): each module of the service may import only the
//! modules listed for it, and none imports the simulator, the demo or the bench. Test modules
//! (`#[cfg(test)]` and below) may import any module of the service, but not those three either:
//! the clients are tested against the fakes from `tests/api/clients/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and what it may import from the crate.
const ALLOWED: &[(&str, &[&str])] = &[
    ("cpr", &[]),
    ("clock", &[]),
    ("config", &[]),
    ("logging", &[]),
    ("audit", &["cpr", "logging"]),
    ("db", &["config", "cpr", "clock", "logging"]),
    ("engine", &["config", "clock", "logging", "db"]),
    ("metrics", &["db", "engine"]),
    ("clients", &["config", "cpr", "logging", "audit"]),
    (
        "jobs",
        &[
            "config", "cpr", "clock", "logging", "audit", "db", "engine", "metrics", "clients",
        ],
    ),
    (
        "web",
        &[
            "config", "cpr", "clock", "logging", "audit", "db", "engine", "metrics", "clients", "jobs",
        ],
    ),
    (
        "app",
        &[
            "config", "cpr", "clock", "logging", "db", "engine", "metrics", "clients", "jobs", "web",
        ],
    ),
];

/// Beside the service: they may import it, it never imports them.
const BESIDE: &[&str] = &["simulator", "demo", "bench"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file above its first `#[cfg(test)]` line (an attribute, not a mention in a comment).
fn above_tests(text: &str) -> String {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .collect::<Vec<_>>()
        .join("\n")
}

/// The crate modules a source text names (`crate::x`, also inside `crate::{x, y}`), above its tests.
fn imports(text: &str) -> BTreeSet<String> {
    let code = above_tests(text);
    let code = code.as_str();
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.insert(name);
            }
        } else {
            found.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    found.retain(|n| !n.is_empty());
    found
}

/// Files that are whole test modules (`#[cfg(test)]` then `mod name;` in their parent).
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().unwrap().to_path_buf(),
            _ => file.with_extension(""),
        };
        for pair in lines.windows(2) {
            if let ["#[cfg(test)]", decl] = pair {
                if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.strip_suffix(';')) {
                    out.insert(dir.join(format!("{name}.rs")));
                    out.insert(dir.join(name).join("mod.rs"));
                }
            }
        }
    }
    out
}

/// The top-level module of a file under src/.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn imports_point_one_way_and_nothing_of_the_service_imports_the_simulator_demo_or_bench() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let tests = test_only_files(&files);
    assert!(
        tests
            .iter()
            .any(|p| p.ends_with("clients/digital_post/tests.rs") && p.exists()),
        "test modules in their own file are recognised: {tests:?}"
    );
    let mut violations = Vec::new();
    for file in files.iter().filter(|f| !tests.contains(*f)) {
        let module = module_of(&src, file);
        if matches!(module.as_str(), "lib" | "main") || BESIDE.contains(&module.as_str()) {
            continue;
        }
        let Some(ok) = allowed.get(module.as_str()) else {
            violations.push(format!("{}: module {module} is not in the layer table", file.display()));
            continue;
        };
        for import in imports(&std::fs::read_to_string(file).unwrap()) {
            if import != module && !ok.contains(&import.as_str()) {
                violations.push(format!("{}: {module} imports crate::{import}", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "forbidden imports:\n{}", violations.join("\n"));
}

#[test]
fn no_test_module_of_the_service_imports_the_simulator_demo_or_bench_either() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if matches!(module.as_str(), "lib" | "main") || BESIDE.contains(&module.as_str()) {
            continue;
        }
        // The whole file, its tests included.
        let text = std::fs::read_to_string(file).unwrap().replace("#[cfg(test)]", "");
        for import in imports(&text) {
            if BESIDE.contains(&import.as_str()) {
                violations.push(format!("{}: {module} imports crate::{import}", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "forbidden imports:\n{}", violations.join("\n"));
}

#[test]
fn the_check_sees_plain_and_grouped_imports_above_the_tests_only() {
    let text = "//! See `#[cfg(test)]` below.\nuse crate::db::Db;\nuse crate::{web, engine::Job};\nfn f() { crate::bench::run(); }\n#[cfg(test)]\nuse crate::simulator;";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["bench", "db", "engine", "web"]);
}
