//! The normaliser's fast path (app/events/normalize.py `_normalize` with `_fast`, `_fast_list`,
//! `Leaf.accepts`): for an object parsed by orjson from a raw JSON line, whether it may be stored
//! as it is — no redaction possible, no key to rewrite, no tolerant shape, within the limits,
//! every known field already canonical — and then its columns. `FastPath.check` returns None
//! whenever Python's own fast path could answer otherwise or would convert a value in place;
//! Python (the reference) then does it all. It never changes the object.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple};

use crate::docs::Map;
use crate::scan::{keys_unique, Scan};

pub const MAX_KEYWORD_CHARS: usize = 8192; // convert.py MAX_KEYWORD_CHARS
const MAX_TAGS: usize = 32; // Leaf.accepts: tags, at most 32 strings of at most 256 characters
const MAX_TAG_CHARS: usize = 256;
const MAX_LABEL_KEY: usize = 128; // names.py LABEL_KEY: [A-Za-z0-9_-]{1,128}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tags,
    Labels,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Canonical {
    None,
    Ipv4,  // convert.py _CANONICAL_IPV4 (ASCII digits only here: \d also takes other scripts' digits)
    Upper, // convert.py _UPPER_ASCII
}

pub struct Leaf {
    pub column: Option<Py<PyString>>,
    pub kind: Kind,
    pub plain: bool,
    pub allowed: Vec<String>,
    pub numeric: Option<bool>, // Some(true): double, Some(false): long
    pub canonical: Canonical,
}

pub enum Spec {
    Ns(Map<Spec>),
    Leaf(Leaf),
}

pub struct Limits {
    pub max_fields: usize,
    pub max_depth: usize,
}

fn ipv4(s: &str) -> bool {
    let mut parts = 0;
    for part in s.split('.') {
        parts += 1;
        let b = part.as_bytes();
        if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0')
            || part.parse::<u16>().map_or(true, |n| n > 255) {
            return false;
        }
    }
    parts == 4
}

fn char_len(v: &Bound<'_, PyAny>) -> Option<usize> {
    v.len().ok() // a str's length in code points, as Python's len()
}

impl Leaf {
    fn accepts_str(&self, v: &Bound<'_, PyAny>) -> Option<bool> {
        let len = char_len(v)?;
        if self.plain && len <= MAX_KEYWORD_CHARS {
            return Some(true);
        }
        let s = v.cast::<PyString>().ok()?.to_str().ok()?;
        Some(self.allowed.iter().any(|a| a == s) || (len <= MAX_KEYWORD_CHARS && match self.canonical {
            Canonical::None => false,
            Canonical::Ipv4 => ipv4(s),
            Canonical::Upper => s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-'),
        }))
    }

    /// `Leaf.accepts` for what is neither a str nor an int.
    fn accepts_other(&self, v: &Bound<'_, PyAny>) -> Option<bool> {
        if let Ok(list) = v.cast_exact::<PyList>() {
            if self.kind != Kind::Tags || list.len() > MAX_TAGS {
                return Some(false);
            }
            for item in list.iter() {
                if !item.is_exact_instance_of::<PyString>() || char_len(&item)? > MAX_TAG_CHARS {
                    return Some(false);
                }
            }
            return Some(true);
        }
        if let Ok(dict) = v.cast_exact::<PyDict>() {
            if self.kind != Kind::Labels {
                return Some(false);
            }
            for (key, item) in dict.iter() {
                if !item.is_exact_instance_of::<PyString>() {
                    return Some(false);
                }
                let key = key.cast::<PyString>().ok()?.to_str().ok()?;
                if key.is_empty() || key.len() > MAX_LABEL_KEY
                    || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                    return Some(false);
                }
            }
            return Some(true);
        }
        if let Ok(f) = v.cast_exact::<PyFloat>() {
            return Some(self.numeric == Some(true) && f.value().is_finite());
        }
        Some(false)
    }
}

fn huge(v: &Bound<'_, PyAny>) -> bool {
    v.cast_exact::<PyFloat>().is_ok_and(|f| {
        let x = f.value();
        !(-1e12 < x && x < 1e12) // could be a card number written with an exponent
    })
}

/// One check: the counts of `_fast` and the columns found.
pub struct Walk<'a, 'py> {
    pub limits: &'a Limits,
    pub good: &'a Bound<'py, PySet>,
    pub judge: &'a Bound<'py, PyAny>,
    pub fields: usize,
    pub keys: usize,
    pub columns: Bound<'py, PyDict>,
}

impl<'py> Walk<'_, 'py> {
    /// `_fast`: None where Python's answer would be False (or might be, or an error occurred).
    pub fn node(&mut self, node: &Bound<'py, PyDict>, tree: Option<&Map<Spec>>, depth: usize) -> Option<()> {
        if depth > self.limits.max_depth {
            return None;
        }
        let size = node.len();
        self.fields += size;
        self.keys += size;
        if self.fields > self.limits.max_fields {
            return None;
        }
        for (key, value) in node.iter() {
            if !self.good.contains(&key).ok()? && !self.judge.call1((&key,)).ok()?.is_truthy().ok()? {
                return None;
            }
            let spec = match tree {
                Some(tree) => tree.get(key.cast::<PyString>().ok()?.to_str().ok()?),
                None => None,
            };
            let leaf = match spec {
                None => {
                    self.unknown(&value, depth)?;
                    continue;
                }
                Some(_) if value.is_none() => continue,
                Some(Spec::Ns(sub)) => {
                    self.node(value.cast_exact::<PyDict>().ok()?, Some(sub), depth + 1)?;
                    continue;
                }
                Some(Spec::Leaf(leaf)) => leaf,
            };
            if value.is_exact_instance_of::<PyString>() {
                if !leaf.accepts_str(&value)? {
                    return None; // Python converts it in place (or refuses it): Python's to do
                }
            } else if value.is_exact_instance_of::<PyInt>() {
                if leaf.numeric.is_none() || value.extract::<i64>().is_err() {
                    return None;
                }
            } else {
                self.unknown(&value, depth)?;
                if !leaf.accepts_other(&value)? {
                    return None;
                }
            }
            if let Some(column) = &leaf.column {
                self.columns.set_item(column.bind(node.py()), &value).ok()?;
            }
        }
        Some(())
    }

    /// A value outside the schema: only containers and huge floats matter.
    fn unknown(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> Option<()> {
        if let Ok(dict) = value.cast_exact::<PyDict>() {
            self.node(dict, None, depth + 1)
        } else if let Ok(list) = value.cast_exact::<PyList>() {
            self.list(list, depth)
        } else if huge(value) {
            None
        } else {
            Some(())
        }
    }

    /// `_fast_list`.
    fn list(&mut self, list: &Bound<'py, PyList>, depth: usize) -> Option<()> {
        self.fields += list.len();
        if self.fields > self.limits.max_fields || depth + 1 > self.limits.max_depth {
            return None;
        }
        for item in list.iter() {
            if item.is_exact_instance_of::<PyList>() || huge(&item) {
                return None;
            }
            if let Ok(dict) = item.cast_exact::<PyDict>() {
                self.node(dict, None, depth + 1)?;
            }
        }
        Some(())
    }
}

/// Everything `FastPath.check` needs besides the object and its line.
pub struct Checker {
    pub tree: Map<Spec>,
    pub limits: Limits,
    pub scan: Scan,
    pub triggers: Py<PyFrozenSet>,
}

#[derive(Default)]
pub struct Buffers {
    text: Vec<u8>,
    lowered: Vec<u8>,
    replaced: Vec<u8>,
}

impl Checker {
    pub fn check<'py>(&self, raw: &Bound<'py, PyAny>, line: &Bound<'py, PyBytes>, good: &Bound<'py, PySet>,
                      judge: &Bound<'py, PyAny>, bufs: &mut Buffers)
                      -> Option<Bound<'py, PyDict>> {
        let py = raw.py();
        let raw = raw.cast_exact::<PyDict>().ok()?;
        let bytes = line.as_bytes();
        if bytes.contains(&0x7f) {
            return None;
        }
        let triggers = self.triggers.bind(py);
        for key in raw.keys() {
            // a tolerant shape may apply (Shaper.wants), or `changes` may hold a secret: Python's
            if triggers.contains(&key).ok()? || key.cast::<PyString>().ok()?.to_str().ok()? == "changes" {
                return None;
            }
        }
        let Buffers { text, lowered, replaced } = bufs;
        let text = self.scan.text(bytes, text)?;
        if self.scan.may_touch(text, lowered, replaced) {
            return None;
        }
        let mut walk = Walk {
            limits: &self.limits,
            good,
            judge,
            fields: 0,
            keys: 0,
            columns: PyDict::new(py),
        };
        walk.node(raw, Some(&self.tree), 1)?;
        if !keys_unique(bytes, walk.keys) {
            return None; // Python looks for the repeated key
        }
        Some(walk.columns)
    }
}

/// The tree of `field_tree` as Python describes it: a namespace is a dict, a field a tuple
/// (column or None, kind, plain, allowed values, "long"/"double"/None, canonical 0/1/2).
pub fn tree_of(node: &Bound<'_, PyDict>) -> PyResult<Map<Spec>> {
    let mut map = Map::default();
    for (key, value) in node.iter() {
        let key: String = key.extract()?;
        let spec = if let Ok(child) = value.cast::<PyDict>() {
            Spec::Ns(tree_of(child)?)
        } else {
            let t = value.cast::<PyTuple>()?;
            let column: Option<Bound<'_, PyString>> = t.get_item(0)?.extract()?;
            let kind: String = t.get_item(1)?.extract()?;
            let numeric: Option<String> = t.get_item(4)?.extract()?;
            Spec::Leaf(Leaf {
                column: column.map(|c| c.unbind()),
                kind: match kind.as_str() { "tags" => Kind::Tags, "labels" => Kind::Labels, _ => Kind::Other },
                plain: t.get_item(2)?.extract()?,
                allowed: t.get_item(3)?.extract()?,
                numeric: numeric.map(|n| n == "double"),
                canonical: match t.get_item(5)?.extract::<u8>()? {
                    0 => Canonical::None,
                    1 => Canonical::Ipv4,
                    2 => Canonical::Upper,
                    n => return Err(pyo3::exceptions::PyValueError::new_err(format!("canonical {n}?"))),
                },
            })
        };
        map.insert(key, spec);
    }
    Ok(map)
}
