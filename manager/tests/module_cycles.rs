//! The manager's modules depend on each other without cycles: every `crate::` and `super::` path
//! in `src/` (tests excluded) is an edge from the file's module to the module it names, and the
//! graph must be acyclic, so each layer (pure vocabulary, PostgreSQL, instance operations, the
//! supervisor) can be read and tested without the ones above it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path of each source file: `src/run/decide.rs` → `run::decide`, `src/pg/mod.rs` → `pg`.
fn modules(src: &Path) -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("source directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let Some(stem) = rel.to_str().and_then(|r| r.strip_suffix(".rs")) else {
                continue;
            };
            let mut module: Vec<String> = stem.split('/').map(str::to_string).collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            if module == ["main"] {
                continue;
            }
            if module == ["lib"] {
                module.clear();
            }
            let text = std::fs::read_to_string(&path).expect("source file");
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_string();
            out.insert(module, code);
        }
    }
    out
}

/// The paths a file names: `crate::a::b`, `super::c`, and the members of `::{...}` groups.
fn named_paths(code: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for base in ["crate", "super"] {
        let mut rest = code;
        while let Some(i) = rest.find(base) {
            let before = rest[..i].chars().last();
            rest = &rest[i + base.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut segments = Vec::new();
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("::") {
                let ident: String = t
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if ident.is_empty() {
                    if let Some(group) = t.strip_prefix('{') {
                        let inner = &group[..group.find('}').unwrap_or(group.len())];
                        for item in inner.split(',') {
                            let item = item.trim().split(" as ").next().unwrap_or_default();
                            if !item.is_empty() && item != "self" {
                                let mut p = segments.clone();
                                p.extend(item.split("::").map(|s| s.trim().to_string()));
                                out.push((base.to_string(), p));
                            }
                        }
                    }
                    break;
                }
                tail = &t[ident.len()..];
                segments.push(ident);
            }
            if !segments.is_empty() {
                out.push((base.to_string(), segments));
            }
        }
    }
    out
}

#[test]
fn the_manager_modules_have_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let resolve = |path: &[String]| {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| modules.contains_key(p))
    };
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, code) in &modules {
        let edges = graph.entry(module.clone()).or_default();
        for (base, segments) in named_paths(code) {
            let mut full = if base == "crate" {
                Vec::new()
            } else {
                module[..module.len().saturating_sub(1)].to_vec()
            };
            full.extend(segments);
            if let Some(target) = resolve(&full)
                && &target != module
            {
                edges.insert(target);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(m.clone());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.clone());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle
                .iter()
                .map(|m| {
                    if m.is_empty() {
                        "crate".into()
                    } else {
                        m.join("::")
                    }
                })
                .collect();
            panic!("import cycle: {}", names.join(" -> "));
        }
    }
    assert!(graph.len() > 20, "only {} modules found", graph.len());
}
