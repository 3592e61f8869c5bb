//! The crate's modules form a one-way dependency graph: no module uses another that
//! (directly or through others) uses it back.
//!
//! How: every `src/**/*.rs` file is a module (`src/a/mod.rs` and `src/a.rs` are `a`,
//! `src/a/b.rs` is `a::b`, `src/lib.rs` is the crate root). Comments, string and char literals
//! are blanked out, then every path that starts with `crate::`, `self::`, `super::` or the name
//! of a child module declared in the file (`mod b;` then `b::…`) is resolved to the longest
//! module it names; that module's file gets an edge to it. Inline modules (`mod tests { … }`)
//! count as their file's module, so test code obeys the rule too. A child naming its parent
//! is an edge like any other; declaring a child (`mod b;`) is not. Then a depth-first search
//! looks for a cycle and prints it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

#[test]
fn modules_do_not_import_each_other_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .map(|file| (module_of(&src, file), file.clone()))
        .collect();
    assert!(modules.len() > 10, "found only {} modules", modules.len());

    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).expect("readable source file");
        let edges = graph.entry(module.clone()).or_default();
        for path in paths_in(&blank_comments_and_literals(&text), module) {
            if let Some(target) = longest_module(&modules, &path) {
                if &target != module {
                    edges.insert(target);
                }
            }
        }
    }
    // The check must be able to fail: the graph has the edges every reader can see.
    assert!(graph[&m("server")].contains(&m("server::connections")));
    assert!(graph[&m("server::connections")].contains(&m("stats")));

    if let Some(cycle) = find_cycle(&graph) {
        let names: Vec<String> = cycle.iter().map(display).collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    graph.entry(m("a")).or_default().insert(m("b"));
    graph.entry(m("b")).or_default().insert(m("c"));
    graph.entry(m("c")).or_default();
    assert_eq!(find_cycle(&graph), None);
    graph.entry(m("c")).or_default().insert(m("a"));
    assert_eq!(
        find_cycle(&graph),
        Some(vec![m("a"), m("b"), m("c"), m("a")])
    );
}

#[test]
fn paths_are_resolved_relative_to_the_module() {
    let text = "mod child;\nuse super::sibling::Thing;\nuse crate::other::{a, b};\n\
                fn f() { child::go(); self::helper(); }\n\
                // crate::commented::out\nconst S: &str = \"crate::in_a_string\";\n\
                mod tests { use super::*; }";
    let paths = paths_in(&blank_comments_and_literals(text), &m("parent::me"));
    assert!(paths.contains(&m("parent::sibling::Thing")));
    assert!(paths.contains(&m("other")));
    assert!(paths.contains(&m("parent::me::child::go")));
    assert!(paths.contains(&m("parent::me::helper")));
    assert!(!paths
        .iter()
        .any(|path| path.contains(&"commented".to_owned())));
    assert!(!paths
        .iter()
        .any(|path| path.contains(&"in_a_string".to_owned())));
    // `super` inside an inline module is the file's module itself.
    assert!(paths.contains(&m("parent::me")));
}

fn m(path: &str) -> Module {
    path.split("::").map(str::to_owned).collect()
}

fn display(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("readable src folder")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).expect("file under src");
    let mut parts: Module = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The same text with comments, strings and char literals replaced by spaces (newlines
/// kept), so that only code is scanned.
fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && is_raw_string(&chars, i) {
            // r"…" or r#"…"#: ends at a quote followed by as many #s.
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            let mut j = i + 2 + hashes;
            while j < chars.len() {
                if chars[j] == '"' && chars[j + 1..].iter().take(hashes).all(|c| *c == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &skipped in &chars[i..j.min(chars.len())] {
                out.push(blank(skipped));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                for &skipped in chars.iter().skip(i).take(step) {
                    out.push(blank(skipped));
                }
                i += step;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            let escaped = chars.get(i + 1) == Some(&'\\');
            let end = chars[i + 1..]
                .iter()
                .enumerate()
                .skip(if escaped { 2 } else { 1 })
                .find(|(_, c)| **c == '\'')
                .map_or(chars.len(), |(at, _)| i + 1 + at + 1);
            for _ in i..end {
                out.push(' ');
            }
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_raw_string(chars: &[char], at: usize) -> bool {
    let starts_word = at == 0 || !(chars[at - 1].is_alphanumeric() || chars[at - 1] == '_');
    let hashes = chars[at + 1..].iter().take_while(|c| **c == '#').count();
    starts_word && chars.get(at + 1 + hashes) == Some(&'"')
}

/// `'x'` or `'\n'` (a char literal), as opposed to a lifetime `'a`.
fn is_char_literal(chars: &[char], at: usize) -> bool {
    matches!(
        (chars.get(at + 1), chars.get(at + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// Every path in `code` that starts at `crate`, `self`, `super` or a child module declared
/// in the file, as an absolute path of names. A `{` ends a path (`use crate::a::{b, c}`
/// gives `a`).
fn paths_in(code: &str, module: &Module) -> Vec<Module> {
    let tokens = tokenize(code);
    let children: BTreeSet<&str> = tokens
        .windows(3)
        .filter(|w| w[0] == "mod" && w[2] == ";")
        .map(|w| w[1].as_str())
        .collect();
    let mut paths = Vec::new();
    // The module the tokens are in: the file's, or an inline module within it.
    let mut scope: Vec<(Module, usize)> = vec![(module.clone(), 0)];
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        match token {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if scope.len() > 1 && scope.last().is_some_and(|(_, at)| *at == depth) {
                    scope.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => {
                let mut inline = scope.last().expect("a scope").0.clone();
                inline.push(tokens[i + 1].clone());
                scope.push((inline, depth));
            }
            _ => {}
        }
        let preceded_by_path = i > 0 && tokens[i - 1] == "::";
        let starts_path = tokens.get(i + 1).is_some_and(|t| t == "::")
            && !preceded_by_path
            && (matches!(token, "crate" | "self" | "super")
                || (children.contains(token) && scope.len() == 1));
        if starts_path {
            let here = &scope.last().expect("a scope").0;
            let mut path: Module = match token {
                "crate" => Vec::new(),
                "self" => here.clone(),
                "super" => here[..here.len().saturating_sub(1)].to_vec(),
                child => {
                    let mut path = here.clone();
                    path.push(child.to_owned());
                    path
                }
            };
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|t| t == "::") {
                match tokens.get(j + 1).map(String::as_str) {
                    Some("super") => {
                        path.pop();
                    }
                    Some(name) if is_identifier(name) => path.push(name.to_owned()),
                    _ => break,
                }
                j += 2;
            }
            paths.push(path);
            i = j;
            continue;
        }
        i += 1;
    }
    paths
}

fn is_identifier(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::`, and single punctuation characters.
fn tokenize(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

/// The longest prefix of `path` that is a module of the crate.
fn longest_module(modules: &BTreeMap<Module, PathBuf>, path: &Module) -> Option<Module> {
    (0..=path.len())
        .rev()
        .map(|len| path[..len].to_vec())
        .find(|prefix| modules.contains_key(prefix))
}

/// A cycle as `a -> b -> … -> a`, if the graph has one.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Unvisited,
        OnStack,
        Done,
    }
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, State>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(node.clone(), State::OnStack);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(State::Unvisited) {
                State::OnStack => {
                    let start = stack.iter().position(|m| m == next).expect("on the stack");
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                State::Unvisited => {
                    if let Some(cycle) = visit(next, graph, state, stack) {
                        return Some(cycle);
                    }
                }
                State::Done => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), State::Done);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node).copied().unwrap_or(State::Unvisited) == State::Unvisited {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, graph, &mut state, &mut stack) {
                return Some(cycle);
            }
        }
    }
    None
}
