//! The house keeps its shape: every file under `src/` is read, every path it names (`use` lines, paths in code,
//! in macro calls and in attribute strings such as poise's `autocomplete = "…"`) is resolved to the file that
//! defines it, and the test fails on
//! - any circle of imports between files,
//! - any file outside `src/discord/commands/` importing a command file (the folder's `mod.rs`, the list of
//!   commands, is not one),
//! - `meeting/` (the plain-Rust core) importing anything outside itself, and `jitsi/` importing Discord, the core
//!   or storage.
//!
//! A `pub use` forwards a name; it is not a dependency of the file that writes it. So a parent `mod.rs` that
//! re-exports its children (a facade) is not in a circle with them, and whoever names the re-exported item depends
//! on the file that defines it.

use proc_macro2::{Spacing, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use syn::visit::Visit;

/// A module path from the crate root: `["discord", "commands", "meet"]`.
type ModPath = Vec<String>;

/// What one file says: the paths it names (each with the module it is written in).
struct Parsed {
    file: String,
    /// (module the path is written in, the path's segments, written in a `pub use`).
    refs: Vec<(ModPath, Vec<String>, bool)>,
}

/// Everything the resolver needs to know about the crate.
#[derive(Default)]
struct Crate {
    /// Every module (files and inline `mod x { … }`) and the file that holds it.
    modules: BTreeMap<ModPath, String>,
    /// Items each module defines (not modules).
    items: BTreeMap<ModPath, BTreeSet<String>>,
    /// `pub use` bindings: (module, name) → the path it forwards to (relative to the module).
    forwards: BTreeMap<(ModPath, String), Vec<String>>,
    /// `pub use x::*`: module → the paths it forwards everything of.
    globs: BTreeMap<ModPath, Vec<Vec<String>>>,
}

/// A file's module path from its place under `src/`.
fn module_of(file: &str) -> ModPath {
    let rel = file.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    match parts.last().map(String::as_str) {
        Some("lib") if parts.len() == 1 => Vec::new(),
        // The binary is its own crate: it reaches the library as `meetbot::`.
        Some("main") if parts.len() == 1 => vec!["<bin>".into()],
        Some("mod") => {
            parts.pop();
            parts
        }
        _ => parts,
    }
}

/// Walks one file, recording its modules, items, `use` trees and every path it names.
struct Walker<'a> {
    krate: &'a mut Crate,
    file: String,
    module: ModPath,
    refs: Vec<(ModPath, Vec<String>, bool)>,
}

impl Walker<'_> {
    fn add_ref(&mut self, segs: Vec<String>, forwarding: bool) {
        if !segs.is_empty() {
            self.refs.push((self.module.clone(), segs, forwarding));
        }
    }

    fn define(&mut self, name: String) {
        self.krate
            .items
            .entry(self.module.clone())
            .or_default()
            .insert(name);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, public: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, public);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                let path = if name == "self" {
                    prefix.clone()
                } else {
                    let mut p = prefix.clone();
                    p.push(name.clone());
                    p
                };
                let bound = path.last().cloned().unwrap_or_default();
                self.bind(path, bound, public);
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.clone();
                if r.ident != "self" {
                    path.push(r.ident.to_string());
                }
                self.bind(path, r.rename.to_string(), public);
            }
            syn::UseTree::Glob(_) => {
                if public {
                    self.krate
                        .globs
                        .entry(self.module.clone())
                        .or_default()
                        .push(prefix.clone());
                }
                self.add_ref(prefix.clone(), public);
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, public);
                }
            }
        }
    }

    fn bind(&mut self, path: Vec<String>, name: String, public: bool) {
        if public {
            self.krate
                .forwards
                .insert((self.module.clone(), name), path.clone());
        }
        self.add_ref(path, public);
    }

    /// Paths inside a macro call or an attribute: `a::b::c` runs of tokens, and string literals that read as paths.
    fn tokens(&mut self, tokens: TokenStream) {
        let flat = flatten(tokens);
        let mut i = 0;
        while i < flat.len() {
            if let TokenTree::Ident(id) = &flat[i] {
                let mut segs = vec![id.to_string()];
                let mut j = i + 1;
                while is_path_sep(&flat, j) {
                    match flat.get(j + 2) {
                        Some(TokenTree::Ident(next)) => {
                            segs.push(next.to_string());
                            j += 3;
                        }
                        _ => break,
                    }
                }
                if segs.len() > 1 {
                    self.add_ref(segs, false);
                }
                i = j;
                continue;
            }
            if let TokenTree::Literal(lit) = &flat[i] {
                if let Ok(s) = syn::parse_str::<syn::LitStr>(&lit.to_string()) {
                    let text = s.value();
                    if text.contains("::") {
                        if let Ok(p) = syn::parse_str::<syn::Path>(&text) {
                            self.add_ref(segments(&p), false);
                        }
                    }
                }
            }
            i += 1;
        }
    }
}

/// The tokens of a stream with every group opened, delimiters dropped.
fn flatten(tokens: TokenStream) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            TokenTree::Group(g) => out.extend(flatten(g.stream())),
            other => out.push(other),
        }
    }
    out
}

/// Whether `flat[j..]` starts with `::`.
fn is_path_sep(flat: &[TokenTree], j: usize) -> bool {
    matches!(
        (flat.get(j), flat.get(j + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

fn segments(p: &syn::Path) -> Vec<String> {
    p.segments.iter().map(|s| s.ident.to_string()).collect()
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.module.push(m.ident.to_string());
        if m.content.is_some() {
            self.krate
                .modules
                .insert(self.module.clone(), self.file.clone());
        }
        syn::visit::visit_item_mod(self, m);
        self.module.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let public = !matches!(u.vis, syn::Visibility::Inherited);
        self.use_tree(&mut Vec::new(), &u.tree, public);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.add_ref(segments(p), false);
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.add_ref(segments(&m.path), false);
        self.tokens(m.tokens.clone());
    }

    // `pub(crate)` names the crate's root, which is no dependency.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_attribute(&mut self, a: &'ast syn::Attribute) {
        if a.path().is_ident("doc") {
            return;
        }
        if let syn::Meta::NameValue(nv) = &a.meta {
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
            {
                if let Ok(p) = syn::parse_str::<syn::Path>(&s.value()) {
                    self.add_ref(segments(&p), false);
                }
            }
            return;
        }
        if let syn::Meta::List(l) = &a.meta {
            self.tokens(l.tokens.clone());
        }
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        let name = match item {
            syn::Item::Const(i) => Some(i.ident.to_string()),
            syn::Item::Enum(i) => Some(i.ident.to_string()),
            syn::Item::Fn(i) => Some(i.sig.ident.to_string()),
            syn::Item::Macro(i) => i.ident.as_ref().map(|i| i.to_string()),
            syn::Item::Static(i) => Some(i.ident.to_string()),
            syn::Item::Struct(i) => Some(i.ident.to_string()),
            syn::Item::Trait(i) => Some(i.ident.to_string()),
            syn::Item::Type(i) => Some(i.ident.to_string()),
            syn::Item::Union(i) => Some(i.ident.to_string()),
            _ => None,
        };
        if let Some(n) = name {
            self.define(n);
        }
        syn::visit::visit_item(self, item);
    }
}

impl Crate {
    /// Reads every file; `files` holds (path under the package, e.g. `src/discord/bot.rs`, its text).
    fn read(files: &[(String, String)]) -> (Crate, Vec<Parsed>) {
        let mut krate = Crate::default();
        for (file, _) in files {
            krate.modules.insert(module_of(file), file.clone());
        }
        let mut parsed = Vec::new();
        for (file, text) in files {
            let ast =
                syn::parse_file(text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
            let module = module_of(file);
            let mut w = Walker {
                krate: &mut krate,
                file: file.clone(),
                module: module.clone(),
                refs: Vec::new(),
            };
            for attr in &ast.attrs {
                w.visit_attribute(attr);
            }
            for item in &ast.items {
                w.visit_item(item);
            }
            parsed.push(Parsed {
                file: file.clone(),
                refs: w.refs,
            });
        }
        (krate, parsed)
    }

    /// `segs`, written in module `at`, as a path from the crate root; `None` for other crates and local names.
    fn absolute(&self, at: &[String], segs: &[String]) -> Option<ModPath> {
        let first = segs.first()?.as_str();
        let (mut base, rest): (ModPath, &[String]) = match first {
            "crate" | "$crate" | "meetbot" => (Vec::new(), &segs[1..]),
            "self" => (at.to_vec(), &segs[1..]),
            "super" => {
                let mut base = at.to_vec();
                let mut rest = segs;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                (base, rest)
            }
            _ => {
                let mut child = at.to_vec();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    return None;
                }
                (at.to_vec(), segs)
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// Whether module `m` has something called `name`: a child module, an item, or a forward.
    fn knows(&self, m: &[String], name: &str) -> bool {
        let mut child = m.to_vec();
        child.push(name.to_string());
        self.modules.contains_key(&child)
            || self.items.get(m).is_some_and(|s| s.contains(name))
            || self.forwards.contains_key(&(m.to_vec(), name.to_string()))
    }

    /// The file that defines what the absolute path `abs` names, following `pub use` forwards.
    fn locate(&self, abs: &[String], depth: usize) -> Option<String> {
        let mut module: ModPath = Vec::new();
        for (i, seg) in abs.iter().enumerate() {
            let mut child = module.clone();
            child.push(seg.clone());
            if self.modules.contains_key(&child) {
                module = child;
                continue;
            }
            if depth > 16 || self.items.get(&module).is_some_and(|s| s.contains(seg)) {
                break;
            }
            let here = || self.modules.get(&module).cloned();
            if let Some(target) = self.forwards.get(&(module.clone(), seg.clone())) {
                let Some(mut next) = self.absolute(&module, target) else {
                    return here();
                };
                next.extend(abs[i + 1..].iter().cloned());
                return self.locate(&next, depth + 1).or_else(here);
            }
            for glob in self.globs.get(&module).into_iter().flatten() {
                if let Some(source) = self.absolute(&module, glob) {
                    if self.knows(&source, seg) {
                        let mut next = source;
                        next.extend(abs[i..].iter().cloned());
                        return self.locate(&next, depth + 1).or_else(here);
                    }
                }
            }
            break;
        }
        self.modules.get(&module).cloned()
    }
}

/// Which file imports which, from the sources (path under the package, text).
fn graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let (krate, parsed) = Crate::read(files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &parsed {
        let out = edges.entry(p.file.clone()).or_default();
        for (at, segs, forwarding) in &p.refs {
            if *forwarding {
                continue;
            }
            let Some(abs) = krate.absolute(at, segs) else {
                continue;
            };
            if let Some(target) = krate.locate(&abs, 0) {
                if target != p.file {
                    out.insert(target);
                }
            }
        }
    }
    edges
}

/// Every circle of imports: the groups of files that reach each other (Tarjan's strongly connected components).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, node: &'a str) {
            let i = self.index.len();
            self.index.insert(node, i);
            self.low.insert(node, i);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.edges.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let l = self.low[node].min(self.low[next]);
                    self.low.insert(node, l);
                } else if self.on_stack.contains(next) {
                    let l = self.low[node].min(self.index[next]);
                    self.low.insert(node, l);
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    group.push(top.to_string());
                    if top == node {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !t.index.contains_key(node.as_str()) {
            t.visit(node);
        }
    }
    t.found
}

const COMMANDS: &str = "src/discord/commands/";

/// Whether `file` is a slash-command adapter (the folder's `mod.rs` is the list of them, not one).
fn is_command_file(file: &str) -> bool {
    file.starts_with(COMMANDS) && file != "src/discord/commands/mod.rs"
}

/// Rooms that must not reach others: (files starting with, may not import files starting with).
const WALLS: &[(&str, &[&str])] = &[
    (
        "src/meeting/",
        &[
            "src/discord",
            "src/store",
            "src/jitsi",
            "src/config",
            "src/schedule",
            "src/web",
            "src/main.rs",
        ],
    ),
    (
        "src/jitsi/",
        &["src/discord", "src/meeting", "src/store", "src/web"],
    ),
];

/// Every way the sources break the house's shape, as sentences.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let edges = graph(files);
    let mut out = Vec::new();
    for group in circles(&edges) {
        out.push(format!(
            "files that import each other in a circle: {}",
            group.join(", ")
        ));
    }
    for (from, tos) in &edges {
        for to in tos {
            if is_command_file(to) && !from.starts_with(COMMANDS) {
                out.push(format!(
                    "{from} imports the command file {to}: move what it needs into a shared room"
                ));
            }
            for (room, walls) in WALLS {
                if from.starts_with(room) && walls.iter().any(|w| to.starts_with(w)) {
                    out.push(format!("{from} ({room}) imports {to}"));
                }
            }
        }
    }
    out
}

/// Every `.rs` file under `dir`, as (path relative to the package, text).
fn sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("under the package")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            out.push((rel, text));
        }
    }
}

fn project() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(root, &root.join("src"), &mut files);
    files
}

#[test]
fn the_source_tree_has_no_circle_and_no_command_is_imported_from_outside_commands() {
    let files = project();
    assert!(files.len() > 20, "found only {} files", files.len());
    let found = violations(&files);
    assert!(
        found.is_empty(),
        "the house lost its shape:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_graph_sees_the_imports_the_house_is_built_on() {
    let edges = graph(&project());
    let has = |from: &str, to: &str| edges.get(from).is_some_and(|t| t.contains(to));
    // A plain `use` of a shared room, a path through a parent's `pub use` facade, the list of commands.
    assert!(has(
        "src/discord/executor.rs",
        "src/discord/announcement.rs"
    ));
    assert!(has("src/main.rs", "src/discord/bot.rs"));
    assert!(has(
        "src/discord/commands/meetings.rs",
        "src/discord/commands/autocomplete.rs"
    ));
    assert!(has("src/discord/bot.rs", "src/discord/commands/mod.rs"));
    // The facade's own `pub use` is no dependency of discord/mod.rs.
    assert!(!has("src/discord/mod.rs", "src/discord/bot.rs"));
}

fn planted(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect()
}

#[test]
fn a_planted_circle_between_two_files_is_found() {
    let files = planted(&[
        ("src/lib.rs", "pub mod a; pub mod b;"),
        ("src/a.rs", "use crate::b::Beta; pub struct Alpha;"),
        (
            "src/b.rs",
            "pub struct Beta; fn f() -> crate::a::Alpha { todo!() }",
        ),
    ]);
    let found = violations(&files);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("src/a.rs") && found[0].contains("src/b.rs"),
        "{found:?}"
    );
}

#[test]
fn a_circle_through_a_macro_call_or_an_attribute_string_is_found_too() {
    let through_macro = planted(&[
        ("src/lib.rs", "pub mod a; pub mod b;"),
        (
            "src/a.rs",
            "pub fn alpha() { println!(\"{}\", super::b::BETA); }",
        ),
        (
            "src/b.rs",
            "pub const BETA: u8 = 1; pub fn beta() { crate::a::alpha() }",
        ),
    ]);
    assert_eq!(violations(&through_macro).len(), 1);
    let through_attribute = planted(&[
        ("src/lib.rs", "pub mod a; pub mod b;"),
        ("src/a.rs", "#[poise::command(slash_command)] pub async fn c(#[autocomplete = \"crate::b::complete\"] x: String) {}"),
        ("src/b.rs", "pub async fn complete() { crate::a::c; }"),
    ]);
    assert_eq!(violations(&through_attribute).len(), 1);
}

#[test]
fn a_parent_reexporting_its_children_is_no_circle_but_a_real_one_behind_it_is() {
    let facade = planted(&[
        ("src/lib.rs", "pub mod d;"),
        (
            "src/d/mod.rs",
            "pub mod bot; pub use bot::start; pub struct Data;",
        ),
        ("src/d/bot.rs", "use super::Data; pub fn start(_: Data) {}"),
        (
            "src/main.rs",
            "fn main() { meetbot::d::start(meetbot::d::Data) }",
        ),
    ]);
    assert!(violations(&facade).is_empty(), "{:?}", violations(&facade));
    let edges = graph(&facade);
    assert!(edges["src/main.rs"].contains("src/d/bot.rs"));
    let mut tangled = facade.clone();
    tangled[1].1 = "pub mod bot; pub struct Data(bot::Handle);".into();
    tangled[2].1 = "use super::Data; pub struct Handle; pub fn start(_: Data) {}".into();
    assert_eq!(violations(&tangled).len(), 1);
}

#[test]
fn a_command_imported_from_outside_commands_and_the_core_reaching_out_are_refused() {
    let files = planted(&[
        ("src/lib.rs", "pub mod discord; pub mod meeting;"),
        ("src/discord/mod.rs", "pub mod buttons; pub mod commands;"),
        (
            "src/discord/commands/mod.rs",
            "pub mod meet; pub fn all() { meet::meet() }",
        ),
        (
            "src/discord/commands/meet.rs",
            "pub fn meet() {} pub fn helper() {}",
        ),
        (
            "src/discord/buttons.rs",
            "use super::commands::meet::helper; fn f() { helper(); super::commands::all() }",
        ),
        (
            "src/meeting/mod.rs",
            "pub fn rule() { crate::discord::buttons::f() }",
        ),
    ]);
    let found = violations(&files);
    assert!(
        found.iter().any(|v| v.contains(
            "src/discord/buttons.rs imports the command file src/discord/commands/meet.rs"
        )),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("src/meeting/mod.rs (src/meeting/)")),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|v| v.contains("commands/mod.rs")),
        "{found:?}"
    );
}

/// The README's "How it is built" tree, between its heading and the next section.
fn readme_tree() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("## How it is built")
        .expect("the README has a \"How it is built\" section");
    let rest = &readme[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// What the tree must name for a source listing: every top-level file and folder of `src/`, and every file of the
/// rooms the tree lists file by file (`discord/` and `meeting/`, where a newcomer looks for one role per file).
/// Folders like `store/` or `jitsi/` are told in one line and need not list their files.
fn unlisted(files: &[(String, String)], tree: &str) -> Vec<String> {
    let named = |name: &str| {
        tree.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')' || c == ';')
            .any(|word| word.trim_end_matches('/') == name.trim_end_matches('/'))
    };
    let mut missing = BTreeSet::new();
    for (file, _) in files {
        let rel = file.trim_start_matches("src/");
        let parts: Vec<&str> = rel.split('/').collect();
        let wanted = match parts.as_slice() {
            ["lib.rs"] => None,
            [top] => Some(top.to_string()),
            [dir, ..] if !["discord", "meeting"].contains(dir) => Some(format!("{dir}/")),
            [_, sub, _, ..] => Some(format!("{sub}/")),
            [_, "mod.rs"] => None,
            [_, leaf] => Some(leaf.to_string()),
            _ => None,
        };
        if let Some(w) = wanted.filter(|w| !named(w)) {
            missing.insert(format!("{w} ({file})"));
        }
    }
    missing.into_iter().collect()
}

#[test]
fn the_readme_tree_names_every_room() {
    let missing = unlisted(&project(), &readme_tree());
    assert!(
        missing.is_empty(),
        "the README's \"How it is built\" tree does not name:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_room_missing_from_the_readme_tree_is_found() {
    let files = planted(&[
        ("src/lib.rs", ""),
        ("src/seal.rs", ""),
        ("src/store/jobs.rs", ""),
        ("src/discord/mod.rs", ""),
        ("src/discord/buttons.rs", ""),
        ("src/discord/limits.rs", ""),
        ("src/discord/http/rest.rs", ""),
    ]);
    let tree = "src/\n  seal.rs  sealed\n  store/  the store\n  discord/\n    buttons.rs  clicks\n    http/  rest\n";
    assert_eq!(
        unlisted(&files, tree),
        vec!["limits.rs (src/discord/limits.rs)".to_string()]
    );
}
