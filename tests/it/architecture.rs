//! The layers `ARCHITECTURE.md` states, checked from the source: the
//! production code of each top-level module refers (by `crate::` paths, in
//! `use` trees and anywhere else) only to modules in layers below it, and the
//! decision core names no wire or RPC type. Test code (`#[cfg(test)]`
//! modules and items) is not production code and may build fixtures from
//! any layer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Bottom to top; a module may use only modules listed before it.
const LAYERS: &[&[&str]] = &[
    &["alg", "clock", "path", "proto", "redact", "telemetry", "watch"],
    &["keys", "revocation"],
    &["authz"],
    &["config"],
    &["server"],
    &["dev"],
    &["explain"],
    &["revoke"],
    &["import"],
    &["reload"],
    &["app"],
    &["cli"],
    &["internals"],
];

/// Crates the decision core (and the key layer beneath it) must not name.
const WIRE_CRATES: &[&str] = &["prost", "prost_types", "tonic", "tonic_health"];
const CORE: &[&str] = &["keys", "revocation", "authz"];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is in no layer of tests/it/architecture.rs"))
}

fn src() -> PathBuf {
    gatehouse_testkit::repo_root().join("src")
}

/// Every production source file with its top-level module, found by
/// following `mod` declarations from `lib.rs` and skipping `#[cfg(test)]` ones.
fn production_files() -> Vec<(String, PathBuf, syn::File)> {
    let mut out = Vec::new();
    let lib = parse(&src().join("lib.rs"));
    for item in &lib.items {
        if let syn::Item::Mod(module) = item {
            if !is_test_only(&module.attrs) {
                let name = module.ident.to_string();
                collect(&name, &src(), module, &mut out);
            }
        }
    }
    out
}

fn collect(top: &str, dir: &Path, module: &syn::ItemMod, out: &mut Vec<(String, PathBuf, syn::File)>) {
    let name = module.ident.to_string();
    let explicit = module.attrs.iter().find_map(path_attribute);
    let (file, child_dir) = match explicit {
        Some(path) => (dir.join(path), dir.to_owned()),
        None if dir.join(&name).join("mod.rs").exists() => (dir.join(&name).join("mod.rs"), dir.join(&name)),
        None => (dir.join(format!("{name}.rs")), dir.join(&name)),
    };
    if module.content.is_some() {
        return; // inline modules are part of their file, already parsed
    }
    let parsed = parse(&file);
    for item in &parsed.items {
        if let syn::Item::Mod(child) = item {
            if !is_test_only(&child.attrs) {
                collect(top, &child_dir, child, out);
            }
        }
    }
    out.push((top.to_owned(), file, parsed));
}

fn path_attribute(attr: &syn::Attribute) -> Option<String> {
    match &attr.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg") && attr.parse_args::<syn::Ident>().is_ok_and(|ident| ident == "test")
    })
}

/// The first segments of every path a file's production code names:
/// `crate::X` as `X`, other crates by name.
#[derive(Default)]
struct Names {
    in_crate: BTreeSet<String>,
    crates: BTreeSet<String>,
}

impl Names {
    fn add_path<'a>(&mut self, mut segments: impl Iterator<Item = &'a syn::Ident>) {
        match segments.next().map(ToString::to_string).as_deref() {
            Some("crate") => {
                if let Some(module) = segments.next() {
                    self.in_crate.insert(module.to_string());
                }
            }
            Some("self" | "super" | "Self") | None => {}
            Some(first) => {
                self.crates.insert(first.to_owned());
            }
        }
    }
}

impl<'ast> Visit<'ast> for Names {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.add_path(path.segments.iter().map(|s| &s.ident));
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if !is_test_only(&item.attrs) {
            let mut prefix = Vec::new();
            use_paths(&item.tree, &mut prefix, self);
        }
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Const(c) => &c.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test_only(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test_only(&item.attrs) {
            syn::visit::visit_impl_item_fn(self, item);
        }
    }
}

fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<syn::Ident>, names: &mut Names) {
    match tree {
        syn::UseTree::Path(path) => {
            prefix.push(path.ident.clone());
            use_paths(&path.tree, prefix, names);
            prefix.pop();
        }
        syn::UseTree::Name(syn::UseName { ident }) | syn::UseTree::Rename(syn::UseRename { ident, .. }) => {
            let mut full = prefix.clone();
            full.push(ident.clone());
            names.add_path(full.iter());
        }
        syn::UseTree::Glob(_) => names.add_path(prefix.iter()),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                use_paths(tree, prefix, names);
            }
        }
    }
}

fn names_of(file: &syn::File) -> Names {
    let mut names = Names::default();
    names.visit_file(file);
    names
}

#[test]
fn no_module_uses_a_module_of_its_own_or_a_higher_layer() {
    let files = production_files();
    assert!(files.len() > 40, "found only {} source files: is the walk broken?", files.len());
    let mut violations = Vec::new();
    for (module, path, file) in &files {
        for used in names_of(file).in_crate {
            if used != *module && layer_of(&used) >= layer_of(module) {
                violations.push(format!("{} ({module}) uses crate::{used}", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "imports against the layers:\n{}", violations.join("\n"));
}

#[test]
fn the_decision_core_names_no_wire_or_rpc_type() {
    let mut violations = Vec::new();
    for (module, path, file) in production_files().iter().filter(|(m, ..)| CORE.contains(&m.as_str())) {
        for used in names_of(file).crates {
            if WIRE_CRATES.contains(&used.as_str()) {
                violations.push(format!("{} ({module}) names `{used}`", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "wire types in the core:\n{}", violations.join("\n"));
}

#[test]
fn the_check_finds_what_it_is_looking_for() {
    // Proves the walk sees `use` trees, paths in expressions and test-only code apart.
    let file: syn::File = syn::parse_quote! {
        use crate::keys::{KeySet, alg::{self}};
        fn f() { crate::server::decide(); }
        #[cfg(test)]
        mod tests { use crate::app::Server; }
    };
    let names = names_of(&file);
    assert_eq!(names.in_crate.into_iter().collect::<Vec<_>>(), ["keys", "server"]);
    assert!(layer_of("server") > layer_of("authz") && layer_of("alg") < layer_of("keys"));
}
