//! platlogs_native: the per-event hot path of Platform Logs' ingest, in Rust. The Python code
//! stays the reference (app/storage/native_docs.py wires this in; tests/test_native_docs.py holds
//! the two to byte-identical output), and every function here may decline with None, upon which
//! the caller takes the Python path.

mod chars;
mod docs;
mod fast;
mod ident;
mod json;
mod scan;

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFrozenSet, PySet, PyString};

use std::cell::RefCell;

use docs::{Builder, Map, Scratch, Spec, Targets, Tree, LISTS};
use ident::Trie;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
    static BUFFERS: RefCell<fast::Buffers> = RefCell::default();
}

fn tree_of(node: &Bound<'_, PyDict>) -> PyResult<Tree> {
    let mut map = Map::default();
    for (key, value) in node.iter() {
        let key: String = key.extract()?;
        let spec = if let Ok(child) = value.cast::<PyDict>() {
            Spec::Ns(tree_of(child)?)
        } else {
            Spec::Kind(value.extract()?)
        };
        map.insert(key, spec);
    }
    Ok(Tree(map))
}

fn list_index(name: Option<String>) -> PyResult<Option<usize>> {
    match name {
        None => Ok(None),
        Some(name) => LISTS.iter().position(|list| *list == name).map(Some)
            .ok_or_else(|| PyValueError::new_err(format!("unknown list {name:?} (one of {LISTS:?})"))),
    }
}

/// The tantivy document of an event (app/storage/tantivy_schema.py `Converter.document`).
#[pyclass(frozen)]
struct DocumentBuilder {
    inner: Builder,
}

#[pymethods]
impl DocumentBuilder {
    /// tree: app/query/searchable.py `_tree()` (a namespace: a dict, a field: its kind);
    /// kinds: kind -> (its keys list, its words list), each "keys", "pkeys", "all", "pall" or None;
    /// plain, skip: the kind of a field the tree does not know, and the kind left out;
    /// identifiers: the identifier fields' paths, in the schema's order;
    /// word, separator: the code points `[^\W_]` and `[\s/\\]` match, as inclusive ranges.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (tree, kinds, plain, skip, identifiers, key_chars, max_values, word, separator))]
    fn new(tree: &Bound<'_, PyDict>, kinds: HashMap<u8, (Option<String>, Option<String>)>, plain: u8, skip: u8,
           identifiers: Vec<Vec<String>>, key_chars: usize, max_values: usize, word: Vec<(u32, u32)>,
           separator: Vec<(u32, u32)>) -> PyResult<Self> {
        let size = kinds.keys().copied().max().map_or(0, |k| k as usize + 1);
        let mut table: Vec<Option<Targets>> = vec![None; size];
        for (kind, (keys, words)) in kinds {
            table[kind as usize] = Some(Targets { keys: list_index(keys)?, words: list_index(words)? });
        }
        if identifiers.iter().any(|path| path.is_empty()) {
            return Err(PyValueError::new_err("an identifier path is empty"));
        }
        Ok(DocumentBuilder {
            inner: Builder {
                tree: tree_of(tree)?,
                kinds: table,
                plain,
                skip,
                trie: Trie::of(&identifiers),
                identifiers,
                key_chars,
                max_values,
                word: chars::Class::new(word).map_err(PyValueError::new_err)?,
                separator: chars::Class::new(separator).map_err(PyValueError::new_err)?,
            },
        })
    }

    /// The JSON line of the event whose orjson bytes are `raw`, with `stored` (the stored form,
    /// DocumentCodec) as `doc` in base64; None when Python must write it.
    fn document<'py>(&self, py: Python<'py>, raw: &[u8], stored: &[u8], seq: u64, ts: i64)
                     -> Option<Bound<'py, PyString>> {
        SCRATCH.with_borrow_mut(|scratch| {
            self.inner.build(raw, stored, seq, ts, scratch)?;
            // built of spans of the UTF-8-checked input between ASCII delimiters, and ASCII
            Some(PyString::new(py, unsafe { std::str::from_utf8_unchecked(&scratch.out) }))
        })
    }

    /// Nanoseconds `document` takes in Rust alone, over `n` runs (bench/native_docs.py).
    fn time_document(&self, raw: &[u8], stored: &[u8], n: u32) -> u128 {
        let mut scratch = Scratch::default();
        let started = std::time::Instant::now();
        for i in 0..n {
            std::hint::black_box(self.inner.build(std::hint::black_box(raw), stored, i as u64, 2, &mut scratch));
        }
        started.elapsed().as_nanos()
    }

    /// Python's `text_like` (app/query/searchable.py) as this builder decides it (for tests).
    fn text_like(&self, value: &str) -> bool {
        self.inner.text_like(value)
    }
}

/// The normaliser's fast path (app/events/native_fast.py wires it into Normalizer).
#[pyclass(frozen)]
struct FastPath {
    inner: fast::Checker,
}

#[pymethods]
impl FastPath {
    /// tree: Normalizer._tree as app/events/native_fast.py describes it; triggers: shapes.TRIGGERS;
    /// the limits; needles, zero (the 256-byte digit table), separators, tails (bytes), reach:
    /// the redactor's (app/events/redact.py); escapes_ok: Normalizer._escapes_ok.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (tree, triggers, max_fields, max_depth, needles, zero, separators, tails, reach, escapes_ok))]
    fn new(tree: &Bound<'_, PyDict>, triggers: &Bound<'_, PyFrozenSet>, max_fields: usize, max_depth: usize,
           needles: Vec<Vec<u8>>, zero: Vec<u8>, separators: Vec<u8>, tails: Vec<Vec<u8>>, reach: usize,
           escapes_ok: bool) -> PyResult<Self> {
        let zero: [u8; 256] = zero.try_into().map_err(|_| PyValueError::new_err("zero: expected 256 bytes"))?;
        if needles.iter().any(|n| n.is_empty()) || tails.iter().any(|t| t.is_empty()) {
            return Err(PyValueError::new_err("an empty needle or tail"));
        }
        let needles = scan::by_byte(needles, false);
        let class = scan::classes(&needles, &zero, &separators);
        Ok(FastPath {
            inner: fast::Checker {
                tree: fast::tree_of(tree)?,
                limits: fast::Limits { max_fields, max_depth },
                scan: scan::Scan { needles, class, tails: scan::by_byte(tails, true), reach, escapes_ok },
                triggers: triggers.clone().unbind(),
            },
        })
    }

    /// The columns of `raw` (parsed by orjson from `line`) when Python's fast path would store
    /// it unchanged and find no repeated key; None when Python must decide. `good` and `judge`:
    /// Normalizer._good_keys and Normalizer._judge_key.
    fn check<'py>(&self, raw: &Bound<'py, PyAny>, line: &Bound<'py, PyBytes>, good: &Bound<'py, PySet>,
                  judge: &Bound<'py, PyAny>) -> Option<Bound<'py, PyDict>> {
        BUFFERS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => self.inner.check(raw, line, good, judge, &mut bufs),
            Err(_) => self.inner.check(raw, line, good, judge, &mut fast::Buffers::default()), // re-entered
        })
    }
}

#[pymodule]
fn platlogs_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DocumentBuilder>()?;
    m.add_class::<FastPath>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
