//! The `fi` field: the identifier values of an event by their path (`Converter.document`'s
//! identifier walk: Python's get_path of each identifier path, then nested dicts in the
//! schema's order).

use crate::docs::Map;
use crate::json::{quote, Doc, Kind, Node};

/// The identifier paths as a trie: each step's children, and the path that ends there.
#[derive(Default)]
pub struct Trie {
    pub children: Map<Trie>,
    pub path: Option<usize>,
}

impl Trie {
    pub fn of(paths: &[Vec<String>]) -> Trie {
        let mut root = Trie::default();
        for (i, path) in paths.iter().enumerate() {
            let mut node = &mut root;
            for part in path {
                node = node.children.entry(part.clone()).or_default();
            }
            node.path.get_or_insert(i);
        }
        root
    }
}

pub enum Fi<'b> {
    Map(Vec<(&'b str, Fi<'b>)>),
    Leaf(u32),
}

/// The non-empty string values at identifier paths (Python's get_path of each), by path number.
pub fn find(doc: &Doc, obj: &Node, trie: &Trie, found: &mut Vec<(usize, u32)>) -> Option<()> {
    let mut decoded = String::new();
    for kid in doc.children(obj) {
        let key: &str = if kid.key.esc {
            decoded.clear();
            crate::json::unescape(doc.inner(&kid.key), &mut decoded)?;
            &decoded
        } else {
            unsafe { std::str::from_utf8_unchecked(doc.inner(&kid.key)) }
        };
        if let Some(step) = trie.children.get(key) {
            let value = doc.node(kid.node);
            if let Some(path) = step.path {
                if value.kind == Kind::Str && value.end - value.start > 2 {
                    found.push((path, kid.node));
                }
            }
            if value.kind == Kind::Obj && !step.children.is_empty() {
                find(doc, value, step, found)?;
            }
        }
    }
    Some(())
}

/// `node.setdefault(part, {})` down the path, then `node[last] = value`; None where Python
/// would fail (a namespace under a value).
pub fn insert<'b>(map: &mut Vec<(&'b str, Fi<'b>)>, path: &'b [String], leaf: u32) -> Option<()> {
    let (head, rest) = path.split_first()?;
    let position = map.iter().position(|entry| entry.0 == head.as_str());
    if rest.is_empty() {
        match position {
            Some(p) => map[p].1 = Fi::Leaf(leaf),
            None => map.push((head.as_str(), Fi::Leaf(leaf))),
        }
        return Some(());
    }
    let p = match position {
        Some(p) => p,
        None => {
            map.push((head.as_str(), Fi::Map(Vec::new())));
            map.len() - 1
        }
    };
    match &mut map[p].1 {
        Fi::Map(inner) => insert(inner, rest, leaf),
        Fi::Leaf(_) => None,
    }
}

pub fn write_fi(doc: &Doc, map: &[(&str, Fi)], out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (name, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        quote(name, out);
        out.push(b':');
        match value {
            Fi::Map(inner) => write_fi(doc, inner, out),
            Fi::Leaf(n) => out.extend_from_slice(doc.bytes(doc.node(*n))),
        }
    }
    out.push(b'}');
}

