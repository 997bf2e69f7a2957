//! The module layering of `src/`, checked from the source text (std only, no parser crate):
//!
//! 1. no import cycle between files;
//! 2. no import that goes up the layering in [`LAYERS`].
//!
//! Every `.rs` file under `src/` except the crate roots (`lib.rs`, `main.rs`) is read, with
//! comments, doc comments and literals left out, for the paths it names: `use` trees
//! (`use crate::a::{b, c::d};`), qualified paths in code (`crate::api::feed::events(...)`),
//! `super::` chains, `self::` paths and paths through a child module the file declares
//! (`mod fetch; pub use fetch::Session;`). Each path resolves to the deepest file that
//! exists: `crate::a::b::C` is `src/a/b.rs` (or `src/a/b/mod.rs`) if there is one, else
//! `src/a.rs` (or `src/a/mod.rs`), else the crate root `src/lib.rs`. That is an edge from
//! file to file; an edge to a `mod.rs` (or `lib.rs`) is an edge to that file only, not
//! through its re-exports. Paths that stay in the file (`use super::*` in an inline
//! `#[cfg(test)] mod tests`) are dropped; paths to other crates are not our business.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Layer ranks by path prefix under `src/` (longest prefix wins): a file may import only
/// files of a rank at most its own. A prefix ending in `/` also covers the folder's own
/// module file (`inventory/` covers `inventory.rs` as it covers `inventory/mod.rs`).
const LAYERS: &[(&str, u32)] = &[
    // Leaves: plain value types.
    ("mac.rs", 0),
    ("xml_text.rs", 0),
    ("backoff.rs", 0),
    ("heap.rs", 0),
    // Sources: what libvirt, the kernel and Open vSwitch say.
    ("libvirt/", 1),
    ("netlink/", 1),
    ("ovsdb/", 1),
    ("ovn/", 1),
    // Record types (leaf).
    ("inventory/record", 2),
    ("inventory/problem", 2),
    ("inventory/kinds", 2),
    // Pure correlation.
    ("identity/", 3),
    ("correlate/", 3),
    ("checks.rs", 3),
    // The live store and its feed.
    ("inventory/", 4),
    ("collect.rs", 4),
    ("actions/", 5),
    ("config.rs", 6),
    ("logging.rs", 6),
    ("settings", 6),
    ("api/", 7),
    // The fleet: the publisher, a consumer of the served view as the API is (serve starts
    // it), and the fleet server's view, watcher and router, built on the API's views and
    // faults (serve binds them; api/ never imports fleet/).
    ("fleet/", 7),
    ("serve/", 8),
    ("cmd/", 9),
    ("cli.rs", 9),
    ("cli/", 9),
    ("output.rs", 9),
    // The fuzz harnesses drive every parser, the `vifd watch` SSE reader included, and
    // are imported by nobody in the crate.
    ("fuzzing/", 10),
    // The crate roots re-export for the library's users; inside the crate, name the
    // module that defines the item (an import of a root is an import from the top).
    ("lib.rs", 10),
    ("main.rs", 10),
];

/// Files that are roots: read by nobody's rules, their own imports not checked.
const ROOTS: &[&str] = &["lib.rs", "main.rs"];

fn rank(file: &str) -> Option<u32> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| {
            file.starts_with(prefix)
                || prefix
                    .strip_suffix('/')
                    .is_some_and(|dir| file == format!("{dir}.rs"))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|&(_, r)| r)
}

// ---------------------------------------------------------------------------------------
// Lexing: identifiers and punctuation, with comments and literals out of the way.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
    /// A string, char or number literal (its text does not matter).
    Lit,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Char offsets into the source, `start..end`.
    start: usize,
    end: usize,
}

impl Token {
    fn is_ident(&self, s: &str) -> bool {
        matches!(&self.tok, Tok::Ident(i) if i == s)
    }
    fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
    fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(i) => Some(i),
            _ => None,
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The tokens of `src`, and `src` with every comment blanked out (same length and lines),
/// for quoting import lines.
fn lex(src: &str) -> (Vec<Token>, Vec<char>) {
    let s: Vec<char> = src.chars().collect();
    let mut shown = s.clone();
    let mut toks = Vec::new();
    let mut i = 0;
    let blank = |shown: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut shown[from..to] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    while i < s.len() {
        let c = s[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
            blank(&mut shown, start, i);
        } else if c == '/' && s.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            blank(&mut shown, start, i);
        } else if c == '"' {
            i = skip_string(&s, i);
            toks.push(Token {
                tok: Tok::Lit,
                start,
                end: i,
            });
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{1F600}', '\'') or a lifetime/label ('a).
            if s.get(i + 1) == Some(&'\\') {
                // Past the quote, the backslash and the escaped char.
                i += 3;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
                toks.push(Token {
                    tok: Tok::Lit,
                    start,
                    end: i,
                });
            } else if s.get(i + 2) == Some(&'\'') {
                i += 3;
                toks.push(Token {
                    tok: Tok::Lit,
                    start,
                    end: i,
                });
            } else {
                i += 1;
                toks.push(Token {
                    tok: Tok::Punct('\''),
                    start,
                    end: i,
                });
            }
        } else if is_ident_start(c) {
            while i < s.len() && is_ident_char(s[i]) {
                i += 1;
            }
            let word: String = s[start..i].iter().collect();
            let next = s.get(i).copied();
            match (word.as_str(), next) {
                // Byte and C strings.
                ("b" | "c", Some('"')) => {
                    i = skip_string(&s, i);
                    toks.push(Token {
                        tok: Tok::Lit,
                        start,
                        end: i,
                    });
                }
                // Raw strings (and raw identifiers, r#ident).
                ("r" | "br" | "cr", Some('"' | '#')) => {
                    let mut hashes = 0;
                    let mut j = i;
                    while s.get(j) == Some(&'#') {
                        hashes += 1;
                        j += 1;
                    }
                    if s.get(j) == Some(&'"') {
                        i = skip_raw_string(&s, j, hashes);
                        toks.push(Token {
                            tok: Tok::Lit,
                            start,
                            end: i,
                        });
                    } else {
                        // r#ident: the identifier itself.
                        let id_start = j;
                        i = j;
                        while i < s.len() && is_ident_char(s[i]) {
                            i += 1;
                        }
                        let word: String = s[id_start..i].iter().collect();
                        toks.push(Token {
                            tok: Tok::Ident(word),
                            start,
                            end: i,
                        });
                    }
                }
                // Byte chars: b'x', b'\n'.
                ("b", Some('\'')) => {
                    i += 1;
                    if s.get(i) == Some(&'\\') {
                        i += 2;
                    } else {
                        i += 1;
                    }
                    while i < s.len() && s[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                    toks.push(Token {
                        tok: Tok::Lit,
                        start,
                        end: i,
                    });
                }
                _ => toks.push(Token {
                    tok: Tok::Ident(word),
                    start,
                    end: i,
                }),
            }
        } else if c.is_ascii_digit() {
            while i < s.len() && is_ident_char(s[i]) {
                i += 1;
            }
            toks.push(Token {
                tok: Tok::Lit,
                start,
                end: i,
            });
        } else if c == ':' && s.get(i + 1) == Some(&':') {
            i += 2;
            toks.push(Token {
                tok: Tok::PathSep,
                start,
                end: i,
            });
        } else {
            i += 1;
            toks.push(Token {
                tok: Tok::Punct(c),
                start,
                end: i,
            });
        }
    }
    (toks, shown)
}

/// Past the string starting with the `"` at `i`.
fn skip_string(s: &[char], mut i: usize) -> usize {
    i += 1;
    while i < s.len() {
        match s[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Past the raw string whose `"` is at `i`, closed by `"` and `hashes` `#`.
fn skip_raw_string(s: &[char], mut i: usize, hashes: usize) -> usize {
    i += 1;
    while i < s.len() {
        if s[i] == '"' && (1..=hashes).all(|k| s.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

// ---------------------------------------------------------------------------------------
// Paths: what each file names, and which file each path lands in.

/// One path a file names, as written.
#[derive(Debug, Clone)]
struct Named {
    segments: Vec<String>,
    /// How many inline `mod x { ... }` blocks enclose it.
    inline_depth: usize,
    /// The import as quoted in reports: the whole `use` item, or the source line.
    quote: String,
}

/// The module path of a file under `src/`: `a/b.rs` and `a/b/mod.rs` are `[a, b]`.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let mut parts: Vec<String> = stem.split('/').map(String::from).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file of `module`, if it has one of its own.
fn file_of(module: &[String], files: &BTreeSet<String>) -> Option<String> {
    if module.is_empty() {
        return Some("lib.rs".to_string());
    }
    let base = module.join("/");
    [format!("{base}.rs"), format!("{base}/mod.rs")]
        .into_iter()
        .find(|f| files.contains(f))
}

/// The deepest existing file along `module`.
fn deepest_file(module: &[String], files: &BTreeSet<String>) -> String {
    (0..=module.len())
        .rev()
        .find_map(|k| file_of(&module[..k], files))
        .expect("lib.rs always resolves")
}

/// Every path `src` names that may land in this crate, and the file modules it declares.
fn named_paths(src: &str) -> (Vec<Named>, BTreeSet<String>) {
    let (toks, shown) = lex(src);
    let line_of = |offset: usize| -> String {
        let from = shown[..offset]
            .iter()
            .rposition(|&c| c == '\n')
            .map_or(0, |p| p + 1);
        let to = shown[offset..]
            .iter()
            .position(|&c| c == '\n')
            .map_or(shown.len(), |p| offset + p);
        shown[from..to]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    };
    let collapse = |from: usize, to: usize| -> String {
        let text: String = shown[from..to].iter().collect();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        text.replace("{ ", "{").replace(" }", "}")
    };

    // Child modules declared as files (`mod x;`), anywhere in the file.
    let children: BTreeSet<String> = toks
        .windows(3)
        .filter(|w| w[0].is_ident("mod") && w[2].is_punct(';'))
        .filter_map(|w| w[1].ident().map(String::from))
        .collect();

    let mut out = Vec::new();
    // Brace depths at which an inline `mod x {` opened.
    let mut inline_at: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if t.is_punct('{') {
            let opens_mod = i >= 2 && toks[i - 2].is_ident("mod") && toks[i - 1].ident().is_some();
            braces += 1;
            if opens_mod {
                inline_at.push(braces);
            }
            i += 1;
        } else if t.is_punct('}') {
            if inline_at.last() == Some(&braces) {
                inline_at.pop();
            }
            braces = braces.saturating_sub(1);
            i += 1;
        } else if t.is_ident("use") && !toks.get(i + 1).is_some_and(|t| t.is_punct('<')) {
            // (`impl Trait + use<'a>` captures lifetimes: no use item.)
            let start = use_item_start(&toks, i);
            let mut j = i + 1;
            let mut trees = Vec::new();
            parse_use_tree(&toks, &mut j, Vec::new(), &mut trees);
            while j < toks.len() && !toks[j].is_punct(';') {
                j += 1;
            }
            let end = toks.get(j).map_or(src.chars().count(), |t| t.end);
            let quote = collapse(toks[start].start, end);
            for segments in trees {
                out.push(Named {
                    segments,
                    inline_depth: inline_at.len(),
                    quote: quote.clone(),
                });
            }
            i = j + 1;
        } else if path_start(&toks, i, &children) {
            let mut segments = vec![t.ident().unwrap().to_string()];
            let mut j = i;
            while toks.get(j + 1).is_some_and(|t| t.tok == Tok::PathSep) {
                match toks.get(j + 2).and_then(Token::ident) {
                    Some(seg) => {
                        segments.push(seg.to_string());
                        j += 2;
                    }
                    None => break,
                }
            }
            out.push(Named {
                segments,
                inline_depth: inline_at.len(),
                quote: line_of(t.start),
            });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    (out, children)
}

/// Whether token `i` starts a path into this crate outside a `use` item: `crate::`,
/// `$crate::`, `super::`, `self::` or `child::`, not itself the tail of a longer path or a
/// method's turbofish.
fn path_start(toks: &[Token], i: usize, children: &BTreeSet<String>) -> bool {
    let Some(word) = toks[i].ident() else {
        return false;
    };
    let first = matches!(word, "crate" | "super" | "self") || children.contains(word);
    let continues = toks.get(i + 1).is_some_and(|t| t.tok == Tok::PathSep)
        && toks.get(i + 2).is_some_and(|t| t.ident().is_some());
    let tail = i > 0 && (toks[i - 1].tok == Tok::PathSep || toks[i - 1].is_punct('.'));
    first && continues && !tail
}

/// The first token of the `use` item whose `use` is token `i`: its visibility included.
fn use_item_start(toks: &[Token], i: usize) -> usize {
    if i >= 1 && toks[i - 1].is_ident("pub") {
        return i - 1;
    }
    if i >= 1 && toks[i - 1].is_punct(')') {
        if let Some(open) = (0..i - 1).rev().find(|&k| toks[k].is_punct('(')) {
            if open >= 1 && toks[open - 1].is_ident("pub") {
                return open - 1;
            }
        }
    }
    i
}

/// Parses the use tree at `*j` (after `use`, or inside `{}`), adding every full path to
/// `out`; a glob or `self` names the module itself. Stops before `,`, `}` or `;`.
fn parse_use_tree(
    toks: &[Token],
    j: &mut usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    // A leading `::` (`use ::std::x`) is another crate.
    if toks.get(*j).is_some_and(|t| t.tok == Tok::PathSep) {
        if prefix.is_empty() {
            prefix.push("::".to_string());
        }
        *j += 1;
    }
    loop {
        let Some(t) = toks.get(*j) else { return };
        match &t.tok {
            Tok::Ident(seg) => {
                *j += 1;
                if toks.get(*j).is_some_and(|t| t.tok == Tok::PathSep) {
                    prefix.push(seg.clone());
                    *j += 1;
                    continue;
                }
                // The last segment, maybe renamed.
                if toks.get(*j).is_some_and(|t| t.is_ident("as")) {
                    *j += 2;
                }
                if seg != "self" {
                    prefix.push(seg.clone());
                }
                out.push(prefix);
                return;
            }
            Tok::Punct('*') => {
                *j += 1;
                out.push(prefix);
                return;
            }
            Tok::Punct('{') => {
                *j += 1;
                loop {
                    match toks.get(*j) {
                        None => return,
                        Some(t) if t.is_punct('}') => {
                            *j += 1;
                            return;
                        }
                        Some(t) if t.is_punct(',') => *j += 1,
                        Some(_) => {
                            let before = *j;
                            parse_use_tree(toks, j, prefix.clone(), out);
                            if *j == before {
                                // Something this parser does not know: skip it.
                                *j += 1;
                            }
                        }
                    }
                }
            }
            _ => return,
        }
    }
}

/// The file a path named in `file` lands in, if it is in this crate.
fn resolve(
    file: &str,
    named: &Named,
    children: &BTreeSet<String>,
    files: &BTreeSet<String>,
) -> Option<String> {
    let here = module_of(file);
    let segs = &named.segments;
    let first = segs.first()?.as_str();
    let module: Vec<String> = match first {
        "crate" | "$crate" => segs[1..].to_vec(),
        "super" => {
            let ups = segs.iter().take_while(|s| *s == "super").count();
            // The first `inline_depth` steps up stay inside this file.
            let ups = ups.checked_sub(named.inline_depth).filter(|&u| u > 0)?;
            let keep = here.len().checked_sub(ups)?;
            let mut m = here[..keep].to_vec();
            m.extend_from_slice(&segs[ups + named.inline_depth..]);
            m
        }
        "self" if named.inline_depth > 0 => return None,
        "self" => {
            let mut m = here.clone();
            m.extend_from_slice(&segs[1..]);
            m
        }
        child if children.contains(child) => {
            let mut m = here.clone();
            m.extend_from_slice(segs);
            m
        }
        _ => return None,
    };
    let target = deepest_file(&module, files);
    (target != file).then_some(target)
}

// ---------------------------------------------------------------------------------------
// The graph.

/// Import edges `from -> to`, each with the quotes of its imports (first seen first).
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The edges of one file's text, given every file of the crate.
fn edges_of(file: &str, src: &str, files: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    let (named, children) = named_paths(src);
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in &named {
        if let Some(to) = resolve(file, n, &children, files) {
            let quotes = edges.entry(to).or_default();
            if !quotes.contains(&n.quote) {
                quotes.push(n.quote.clone());
            }
        }
    }
    edges
}

fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel);
        }
    }
}

/// Every file of `src/` and the crate's import graph.
fn crate_graph() -> (BTreeSet<String>, Graph) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeSet::new();
    walk(&root, &root, &mut files);
    let mut graph = Graph::new();
    for file in &files {
        if ROOTS.contains(&file.as_str()) {
            continue;
        }
        let src = std::fs::read_to_string(root.join(file)).unwrap();
        graph.insert(file.clone(), edges_of(file, &src, &files));
    }
    let edges: usize = graph.values().map(BTreeMap::len).sum();
    assert!(
        files.len() > 50,
        "only {} files under src/: {files:?}",
        files.len()
    );
    assert!(
        edges > 50,
        "only {edges} import edges found: is the parser blind?"
    );
    (files, graph)
}

/// Strongly connected components (Tarjan), each sorted; only those with several files.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(st: &mut State<'a>, v: &'a str) {
        st.index.insert(v, st.next);
        st.low.insert(v, st.next);
        st.next += 1;
        st.stack.push(v);
        st.on_stack.insert(v);
        let graph = st.graph;
        for w in graph.get(v).into_iter().flat_map(BTreeMap::keys) {
            let w = w.as_str();
            if !st.index.contains_key(w) {
                visit(st, w);
                let lw = st.low[w];
                let lv = st.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if st.on_stack.contains(w) {
                let iw = st.index[w];
                let lv = st.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if st.low[v] == st.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = st.stack.pop().unwrap();
                st.on_stack.remove(w);
                scc.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                st.out.push(scc);
            }
        }
    }
    let mut st = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !st.index.contains_key(v.as_str()) {
            visit(&mut st, v);
        }
    }
    st.out.sort();
    st.out
}

// ---------------------------------------------------------------------------------------
// The checks.

#[test]
fn no_import_cycles_between_files() {
    let (_, graph) = crate_graph();
    let sccs = cycles(&graph);
    let mut report = String::new();
    for (n, scc) in sccs.iter().enumerate() {
        let names: Vec<String> = scc.iter().map(|f| format!("src/{f}")).collect();
        // A cycle inside one folder is its mod.rs and the children it re-exports.
        let folder = scc[0].split_once('/').map(|(dir, _)| dir);
        let within = match folder {
            Some(dir) if scc.iter().all(|f| f.starts_with(&format!("{dir}/"))) => {
                format!(", all under src/{dir}/")
            }
            _ => String::new(),
        };
        writeln!(
            report,
            "cycle {} ({} files{within}): {}",
            n + 1,
            scc.len(),
            names.join(", ")
        )
        .unwrap();
        for from in scc {
            for (to, quotes) in &graph[from] {
                if scc.contains(to) {
                    writeln!(report, "  src/{from} -> src/{to}: {}", quotes[0]).unwrap();
                }
            }
        }
    }
    assert!(
        sccs.is_empty(),
        "{} import cycle(s) between files under src/:\n{report}",
        sccs.len()
    );
}

#[test]
fn imports_never_go_up_the_layers() {
    let (files, graph) = crate_graph();
    let unranked: Vec<&String> = files.iter().filter(|f| rank(f).is_none()).collect();
    assert!(
        unranked.is_empty(),
        "files without a rank in LAYERS: {unranked:?}"
    );
    let mut violations = Vec::new();
    for (from, edges) in &graph {
        let r = rank(from).unwrap();
        for (to, quotes) in edges {
            let s = rank(to).unwrap();
            if s > r {
                for quote in quotes {
                    violations.push(format!(
                        "src/{from} (rank {r}) imports src/{to} (rank {s}): {quote}"
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{} import(s) up the layers:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// Not a check: the whole graph, for planning a re-layer.
/// `cargo test --test layering -- --ignored --nocapture print_the_import_graph`
#[test]
#[ignore = "a diagnostic that prints the import graph and asserts nothing; the two tests above are the checks"]
fn print_the_import_graph() {
    let (files, graph) = crate_graph();
    let edges: usize = graph.values().map(BTreeMap::len).sum();
    println!("{} files, {edges} edges", files.len());
    for (from, to_quotes) in &graph {
        let r = rank(from).map_or("-".to_string(), |r| r.to_string());
        for (to, quotes) in to_quotes {
            let s = rank(to).map_or("-".to_string(), |r| r.to_string());
            for quote in quotes {
                println!("src/{from} ({r}) -> src/{to} ({s}): {quote}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parser, checked on snippets: a parser that finds nothing must not pass.

fn fileset(files: &[&str]) -> BTreeSet<String> {
    files.iter().map(|f| f.to_string()).collect()
}

fn targets(file: &str, src: &str, files: &[&str]) -> Vec<String> {
    edges_of(file, src, &fileset(files)).into_keys().collect()
}

#[test]
fn parser_finds_use_trees() {
    let files = [
        "lib.rs", "x.rs", "a/mod.rs", "a/b.rs", "a/b/d.rs", "q.rs", "r/mod.rs",
    ];
    let src = "use crate::a::b::{c, d::e};\nuse crate::{q::Q, r as _};\nuse std::io::Read;\n";
    assert_eq!(
        targets("x.rs", src, &files),
        ["a/b.rs", "a/b/d.rs", "q.rs", "r/mod.rs"]
    );
    // Globs, `self` in a group, renames, visibility, a leading `::` (another crate).
    let src = "pub(crate) use crate::q::*;\npub use crate::a::{self, b::X as Y};\nuse ::a::b;\n";
    assert_eq!(targets("x.rs", src, &files), ["a/b.rs", "a/mod.rs", "q.rs"]);
    // The quote is the whole item, on one line.
    let edges = edges_of(
        "x.rs",
        "use crate::a::{\n    b::C, // why\n    Z,\n};\n",
        &fileset(&files),
    );
    assert_eq!(edges["a/b.rs"], ["use crate::a::{b::C, Z,};"]);
    assert_eq!(edges["a/mod.rs"], ["use crate::a::{b::C, Z,};"]);
}

#[test]
fn parser_resolves_to_the_deepest_existing_file() {
    let files = ["lib.rs", "x.rs", "a/mod.rs", "api/feed.rs", "api/mod.rs"];
    // No a/b.rs: the path lands in a/mod.rs; an item of the root lands in lib.rs.
    assert_eq!(targets("x.rs", "use crate::a::b::C;", &files), ["a/mod.rs"]);
    assert_eq!(targets("x.rs", "use crate::Root;", &files), ["lib.rs"]);
    // A re-export does not pass the edge on: `api::Feed` is api/mod.rs's.
    assert_eq!(
        targets("x.rs", "use crate::api::Feed;", &files),
        ["api/mod.rs"]
    );
    // A file's own paths are no edge.
    assert!(targets("a/mod.rs", "use crate::a::Z;", &files).is_empty());
}

#[test]
fn parser_finds_paths_in_code() {
    let files = ["lib.rs", "x.rs", "api/mod.rs", "api/feed.rs", "mac.rs"];
    let src =
        "fn f() {\n    let e = crate::api::feed::events(&s);\n    x.crate_thing::<u8>();\n    \
               let m: crate::mac::MacAddr = todo();\n}\n";
    let edges = edges_of("x.rs", src, &fileset(&files));
    assert_eq!(edges.keys().collect::<Vec<_>>(), ["api/feed.rs", "mac.rs"]);
    assert_eq!(
        edges["api/feed.rs"],
        ["let e = crate::api::feed::events(&s);"]
    );
}

#[test]
fn parser_skips_comments_strings_and_doc_comments() {
    let files = ["lib.rs", "x.rs", "zzz.rs", "mac.rs"];
    let src = r####"
//! Module doc: crate::zzz::A
/// Item doc: use crate::zzz::B;
// use crate::zzz::C;
/* crate::zzz::D /* nested crate::zzz::E */ crate::zzz::F */
const S: &str = "crate::zzz::G \" crate::zzz::H";
const R: &str = r#"crate::zzz::I " crate::zzz::J"#;
const B: &[u8] = b"crate::zzz::K";
const C: char = '"';
const BC: u8 = b'"';
fn f<'a>(x: &'a str) -> &'a str { let _ = '\''; x }
#[doc = "crate::zzz::L"]
use crate::mac::MacAddr;
"####;
    assert_eq!(targets("x.rs", src, &files), ["mac.rs"]);
}

#[test]
fn parser_follows_super_and_self() {
    let files = [
        "lib.rs",
        "a/mod.rs",
        "a/b/mod.rs",
        "a/b/c.rs",
        "a/q.rs",
        "a/child.rs",
        "a/b/c/d.rs",
    ];
    // super::super:: from a/b/c.rs is `a`.
    let src = "use super::super::q::R;\nuse super::Thing;\nfn f() { super::super::q::g(); }\n";
    assert_eq!(targets("a/b/c.rs", src, &files), ["a/b/mod.rs", "a/q.rs"]);
    // In a mod.rs, `self::` and a declared child module lead to the child.
    let src = "mod child;\npub use self::child::X;\n";
    assert_eq!(targets("a/mod.rs", src, &files), ["a/child.rs"]);
    let src = "mod child;\npub use child::X;\nfn f() { child::g(); }\n";
    assert_eq!(targets("a/mod.rs", src, &files), ["a/child.rs"]);
    // A file with a folder of children (a/b/c.rs and a/b/c/d.rs).
    assert_eq!(
        targets("a/b/c.rs", "mod d;\nuse d::Z;", &files),
        ["a/b/c/d.rs"]
    );
    // `super` inside an inline test module is the file itself, then its parent.
    let src =
        "fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use self::inner::*;\n    \
               use super::super::Thing;\n    fn g() { let _ = b'}'; let _ = '{'; }\n}\n\
               fn h() { super::super::q::x(); }\n";
    let edges = edges_of("a/b/c.rs", src, &fileset(&files));
    assert_eq!(edges.keys().collect::<Vec<_>>(), ["a/b/mod.rs", "a/q.rs"]);
    assert_eq!(edges["a/b/mod.rs"], ["use super::super::Thing;"]);
    assert_eq!(edges["a/q.rs"], ["fn h() { super::super::q::x(); }"]);
    // ...and after the inline module closes, `super` is the parent again.
    let src = "#[cfg(test)]\nmod tests {\n    use super::*;\n}\nuse super::super::q::R;\n";
    assert_eq!(targets("a/b/c.rs", src, &files), ["a/q.rs"]);
}

#[test]
fn ranks_take_the_longest_prefix() {
    assert_eq!(rank("inventory/record.rs"), Some(2));
    assert_eq!(rank("inventory/record/x.rs"), Some(2));
    assert_eq!(rank("inventory/mod.rs"), Some(4));
    assert_eq!(rank("inventory/feed.rs"), Some(4));
    assert_eq!(rank("inventory.rs"), Some(4));
    assert_eq!(rank("api/view.rs"), Some(7));
    assert_eq!(rank("libvirt/events.rs"), Some(1));
    assert_eq!(rank("mac.rs"), Some(0));
    assert_eq!(rank("nowhere.rs"), None);
}

#[test]
fn tarjan_finds_the_cycles() {
    let mut g = Graph::new();
    let mut edge = |a: &str, b: &str| {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), vec![format!("{a}->{b}")]);
    };
    edge("a", "b");
    edge("b", "c");
    edge("c", "a");
    edge("c", "d");
    edge("d", "e");
    edge("e", "d");
    edge("f", "a");
    assert_eq!(cycles(&g), [vec!["a", "b", "c"], vec!["d", "e"]]);
}
