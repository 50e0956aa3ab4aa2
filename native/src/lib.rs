//! platlogs_native: the per-event hot path of Platform Logs' ingest, in Rust. The Python code
//! stays the reference (app/storage/native_docs.py wires this in; tests/test_native_docs.py holds
//! the two to byte-identical output), and every function here may decline with None, upon which
//! the caller takes the Python path.

mod chars;
mod docs;
mod ident;
mod json;

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use std::cell::RefCell;

use docs::{Builder, Map, Scratch, Spec, Targets, Tree, LISTS};
use ident::Trie;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
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

#[pymodule]
fn platlogs_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DocumentBuilder>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
