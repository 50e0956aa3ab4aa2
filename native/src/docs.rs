//! The tantivy document of an event (app/storage/tantivy_schema.py `Converter.document` is the
//! reference; tests/test_native_docs.py holds the two to equal output), built from the event's
//! orjson bytes. Every value is copied as the bytes orjson wrote for it. What the event's fields
//! mean (the searchable tree of app/query/searchable.py, the identifier paths, KEY_CHARS,
//! MAX_VALUES, the character classes of `text_like`) is handed over by Python at construction.
//!
//! `build` returns None (the caller then takes the Python path) for anything it is not sure to
//! write exactly as Python would: input that is not orjson's compact JSON, a non-string event.id
//! other than an integer, identifier paths that collide.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::chars::Class;
use crate::ident::{find, insert, write_fi, Fi, Trie};
use crate::json::{Arena, Doc, Kind, Node};

/// FNV-1a: the keys looked up are short field names, where SipHash costs more than the lookup.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf29ce484222325 } else { self.0 };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type Map<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;

pub enum Spec {
    Ns(Tree),
    Kind(u8),
}

#[derive(Default)]
pub struct Tree(pub Map<Spec>);

/// Where a kind's values go: the index of its keys list and of its words list (KEYS, PKEYS,
/// ALL, PALL), or none (the kind's values are left out).
#[derive(Clone, Copy)]
pub struct Targets {
    pub keys: Option<usize>,
    pub words: Option<usize>,
}

pub const LISTS: [&str; 4] = ["keys", "pkeys", "all", "pall"];

pub struct Builder {
    pub tree: Tree,
    pub kinds: Vec<Option<Targets>>, // by kind number; None: a kind this table does not know
    pub plain: u8,
    pub skip: u8,
    pub identifiers: Vec<Vec<String>>,
    pub trie: Trie,
    pub key_chars: usize,
    pub max_values: usize,
    pub word: Class,
    pub separator: Class,
}

/// What `build` works in, kept from one call to the next (no allocation per event).
#[derive(Default)]
pub struct Scratch {
    arena: Arena,
    lists: [Vec<u32>; 4],
    stack: Vec<u32>,
    buf: String,
    found: Vec<(usize, u32)>,
    pub out: Vec<u8>,
}

struct State<'s> {
    lists: &'s mut [Vec<u32>; 4],
    budget: usize,
    stack: &'s mut Vec<u32>,
    buf: &'s mut String,
}

impl Builder {
    /// Python's `text_like`: a separator (`[\s/\\]`) somewhere, and two runs of word characters
    /// (`[^\W_]+`).
    pub fn text_like(&self, value: &str) -> bool {
        let mut separator = false;
        let mut runs = 0u32;
        let mut in_run = false;
        for c in value.chars() {
            if self.word.has(c) {
                if !in_run {
                    runs += 1;
                    in_run = true;
                }
            } else {
                in_run = false;
            }
            if !separator && self.separator.has(c) {
                separator = true;
            }
            if separator && runs >= 2 {
                return true;
            }
        }
        false
    }

    /// The line into `scratch.out` (valid UTF-8: spans of the checked input between ASCII
    /// delimiters, and ASCII); None: declined.
    pub fn build(&self, raw: &[u8], stored: &[u8], seq: u64, ts: i64, scratch: &mut Scratch) -> Option<()> {
        std::str::from_utf8(raw).ok()?;
        let Scratch { arena, lists, stack, buf, found, out } = scratch;
        let doc = Doc::parse(raw, arena)?;
        let root = *doc.node(doc.root);
        if root.kind != Kind::Obj {
            return None;
        }
        for list in lists.iter_mut() {
            list.clear();
        }
        let mut st = State { lists, budget: self.max_values, stack, buf };
        self.walk(&doc, &root, &self.tree, &mut st)?;

        out.clear();
        out.reserve(raw.len() * 2 + stored.len() * 4 / 3 + 128);
        out.extend_from_slice(b"{\"seq\":");
        integer(seq as i128, out);
        out.extend_from_slice(b",\"ts\":");
        integer(ts as i128, out);
        out.extend_from_slice(b",\"doc\":\"");
        base64(stored, out);
        out.push(b'"');

        let event = doc.member(&root, "event").map(|i| *doc.node(i));
        if let Some(meta) = event.filter(|n| n.kind == Kind::Obj) {
            if let Some(id) = doc.member(&meta, "id") {
                let id = doc.node(id);
                out.extend_from_slice(b",\"id\":");
                match id.kind {
                    Kind::Str => out.extend_from_slice(doc.bytes(id)),
                    Kind::Int => {
                        out.push(b'"');
                        out.extend_from_slice(doc.bytes(id));
                        out.push(b'"');
                    }
                    _ => return None, // str() of a float, a bool, None, a dict: Python's to write
                }
            }
        }
        if let Some(message) = doc.member(&root, "message").map(|i| doc.node(i)) {
            if message.kind == Kind::Str {
                out.extend_from_slice(b",\"message\":");
                out.extend_from_slice(doc.bytes(message));
            }
        }
        if let Some(error) = doc.member(&root, "error").map(|i| *doc.node(i)).filter(|n| n.kind == Kind::Obj) {
            for (name, field) in [("message", "body"), ("stack_trace", "stack")] {
                if let Some(text) = doc.member(&error, name).map(|i| doc.node(i)) {
                    if text.kind == Kind::Str {
                        out.extend_from_slice(b",\"");
                        out.extend_from_slice(field.as_bytes());
                        out.extend_from_slice(b"\":");
                        out.extend_from_slice(doc.bytes(text));
                    }
                }
            }
        }

        out.extend_from_slice(b",\"f\":{");
        let mut first = true;
        for kid in doc.children(&root) {
            let key = &kid.key;
            if doc.text_is(key, "message") || doc.text_is(key, "@timestamp") {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(doc.bytes(key));
            out.push(b':');
            let value = doc.node(kid.node);
            if value.kind == Kind::Obj && doc.text_is(key, "event") {
                without(&doc, value, &["id"], out);
            } else if value.kind == Kind::Obj && doc.text_is(key, "error") {
                without(&doc, value, &["message", "stack_trace"], out);
            } else {
                out.extend_from_slice(doc.bytes(value));
            }
        }
        out.push(b'}');

        for (name, list) in LISTS.iter().zip(st.lists.iter()) {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":[");
            for (i, &n) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let node = doc.node(n);
                if node.kind == Kind::Int {
                    out.push(b'"');
                    out.extend_from_slice(doc.bytes(node));
                    out.push(b'"');
                } else {
                    out.extend_from_slice(doc.bytes(node));
                }
            }
            out.push(b']');
        }

        found.clear();
        find(&doc, &root, &self.trie, found)?;
        found.sort_unstable();
        let mut fi: Vec<(&str, Fi)> = Vec::new();
        for &(path, node) in found.iter() {
            insert(&mut fi, &self.identifiers[path], node)?;
        }
        out.extend_from_slice(b",\"fi\":");
        write_fi(&doc, &fi, out);
        out.push(b'}');
        Some(())
    }

    /// app/query/searchable.py `searchable(..., identifiers=False)` `walk`.
    fn walk(&self, doc: &Doc, obj: &Node, tree: &Tree, st: &mut State) -> Option<()> {
        let mut decoded = String::new();
        for kid in doc.children(obj) {
            let key: &str = if kid.key.esc {
                decoded.clear();
                crate::json::unescape(doc.inner(&kid.key), &mut decoded)?;
                &decoded
            } else {
                unsafe { std::str::from_utf8_unchecked(doc.inner(&kid.key)) }
            };
            match tree.0.get(key) {
                Some(Spec::Ns(sub)) => {
                    let value = doc.node(kid.node);
                    if value.kind == Kind::Obj {
                        self.walk(doc, value, sub, st)?;
                    } else {
                        self.leaves(doc, kid.node, self.plain, st)?;
                    }
                }
                spec => {
                    let kind = match spec {
                        Some(Spec::Kind(kind)) => *kind,
                        _ => self.plain,
                    };
                    if kind == self.skip || key.starts_with('_') {
                        continue;
                    }
                    self.leaves(doc, kid.node, kind, st)?;
                }
            }
        }
        Some(())
    }

    /// `leaves`: every value under a node, last first (Python pops them off a stack).
    fn leaves(&self, doc: &Doc, start: u32, kind: u8, st: &mut State) -> Option<()> {
        let targets = (*self.kinds.get(kind as usize)?)?;
        let Some(keys) = targets.keys else { return Some(()) };
        st.stack.clear();
        st.stack.push(start);
        while st.budget > 0 {
            let Some(i) = st.stack.pop() else { break };
            let node = *doc.node(i);
            match node.kind {
                Kind::Str => {
                    if node.end - node.start == 2 {
                        continue;
                    }
                    st.budget -= 1;
                    let text = doc.text(&node, st.buf)?;
                    let short = text.len() <= self.key_chars || text.chars().count() <= self.key_chars;
                    if short {
                        let words = targets.words.filter(|_| self.text_like(text));
                        st.lists[keys].push(i);
                        if let Some(words) = words {
                            st.lists[words].push(i);
                        }
                    } else if let Some(words) = targets.words {
                        st.lists[words].push(i);
                    }
                }
                Kind::Int => {
                    st.budget -= 1;
                    // str(int): digits and a sign, never text-like
                    if (node.end - node.start) as usize <= self.key_chars {
                        st.lists[keys].push(i);
                    } else if let Some(words) = targets.words {
                        st.lists[words].push(i);
                    }
                }
                Kind::Obj | Kind::Arr => st.stack.extend(doc.children(&node).iter().map(|kid| kid.node)),
                Kind::Other => {}
            }
        }
        Some(())
    }
}

/// An object's bytes without the members named in `names`.
fn without(doc: &Doc, obj: &Node, names: &[&str], out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    for kid in doc.children(obj) {
        if names.iter().any(|name| doc.text_is(&kid.key, name)) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(doc.bytes(&kid.key));
        out.push(b':');
        out.extend_from_slice(doc.bytes(doc.node(kid.node)));
    }
    out.push(b'}');
}

fn integer(mut n: i128, out: &mut Vec<u8>) {
    if n < 0 {
        out.push(b'-');
        n = -n;
    }
    let mut digits = [0u8; 40];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

pub fn base64(data: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        out.extend_from_slice(&[ALPHABET[(n >> 18) as usize & 63], ALPHABET[(n >> 12) as usize & 63],
                                ALPHABET[(n >> 6) as usize & 63], ALPHABET[n as usize & 63]]);
    }
    match chunks.remainder() {
        [a] => {
            let n = (*a as u32) << 16;
            out.extend_from_slice(&[ALPHABET[(n >> 18) as usize & 63], ALPHABET[(n >> 12) as usize & 63], b'=', b'=']);
        }
        [a, b] => {
            let n = (*a as u32) << 16 | (*b as u32) << 8;
            out.extend_from_slice(&[ALPHABET[(n >> 18) as usize & 63], ALPHABET[(n >> 12) as usize & 63],
                                    ALPHABET[(n >> 6) as usize & 63], b'=']);
        }
        _ => {}
    }
}
