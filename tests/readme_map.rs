//! README's "What is inside" is the map a newcomer reads first: it names every port trait,
//! every use-case module and every crate of the workspace, so the map cannot drift from the
//! land.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The "What is inside" section of README.md.
fn map() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("## What is inside")
        .expect("README has a \"What is inside\" section");
    let rest = &readme[start + 2..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 2);
    readme[start..start + end].to_string()
}

/// The names declared as `pub <keyword> <name>` in the Rust files of `dir`.
fn declared(dir: &str, keyword: &str) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join(dir)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix(&format!("pub {keyword} ")) else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names.sort();
    names
}

fn missing(names: &[String], wrap: impl Fn(&str) -> String) -> Vec<&String> {
    let map = map();
    names.iter().filter(|n| !map.contains(&wrap(n))).collect()
}

#[test]
fn every_port_trait_is_on_the_map() {
    let traits = declared("src/ports", "trait");
    assert!(traits.len() >= 10, "found {traits:?}");
    let unnamed = missing(&traits, |name| format!("`{name}`"));
    assert!(unnamed.is_empty(), "README's map lacks ports {unnamed:?}");
}

#[test]
fn every_use_case_module_is_on_the_map() {
    let modules = declared("src/usecases", "mod");
    assert!(modules.len() >= 6, "found {modules:?}");
    let unnamed = missing(&modules, |name| format!("`{name}`"));
    assert!(
        unnamed.is_empty(),
        "README's map lacks use cases {unnamed:?}"
    );
}

#[test]
fn every_adapter_crate_is_on_the_map() {
    let mut crates: Vec<String> = std::fs::read_dir(root().join("adapters"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    assert!(crates.len() >= 8, "found {crates:?}");
    let unnamed = missing(&crates, |name| format!("adapters/{name}"));
    assert!(unnamed.is_empty(), "README's map lacks crates {unnamed:?}");
}
