//! Where a tantivy index's bytes go: `searcher.space_usage()` per field and per component
//! (term dictionary, postings, positions, fast columns, field norms, document store), and, for
//! JSON fields, per path (postings and positions bytes exactly from each term's byte ranges;
//! terms counted; fast columns per path and type from the columnar).
//!
//! Usage: space_usage [--paths] INDEX_DIR... — prints one JSON object on stdout, summed over
//! every segment of every directory given. Opens the indexes read-only (no writer, no lock).

use std::collections::BTreeMap;
use std::env;
use std::path::Path;

use serde_json::{json, Value};
use tantivy::directory::MmapDirectory;
use tantivy::schema::FieldType;
use tantivy::{Index, ReloadPolicy};

#[derive(Default, Clone)]
struct PathStat {
    terms: u64,
    singleton_terms: u64,
    key_bytes: u64,
    postings: u64,
    positions: u64,
    doc_freq: u64,
}

fn add(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    *map.entry(key.to_string()).or_default() += n;
}

fn main() -> tantivy::Result<()> {
    let mut want_paths = false;
    let mut dirs = Vec::new();
    for arg in env::args().skip(1) {
        if arg == "--paths" {
            want_paths = true;
        } else {
            dirs.push(arg);
        }
    }
    if dirs.is_empty() {
        eprintln!("usage: space_usage [--paths] INDEX_DIR...");
        std::process::exit(2);
    }
    let mut docs: u64 = 0;
    let mut segments: u64 = 0;
    let mut total: u64 = 0;
    // component -> field -> bytes
    let mut comp: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
    let mut store_data: u64 = 0;
    let mut store_offsets: u64 = 0;
    let mut deletes: u64 = 0;
    let mut fast_dict: BTreeMap<String, u64> = BTreeMap::new();
    let mut paths: BTreeMap<String, PathStat> = BTreeMap::new();
    let mut file_bytes: BTreeMap<String, u64> = BTreeMap::new();

    for dir in &dirs {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let ext = Path::new(&name).extension().map(|e| e.to_string_lossy().to_string()).unwrap_or_default();
            add(&mut file_bytes, &ext, entry.metadata()?.len());
        }
        let index = Index::open(MmapDirectory::open(dir)?)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let searcher = reader.searcher();
        let usage = searcher.space_usage()?;
        total += usage.total().get_bytes();
        for seg in usage.segments() {
            segments += 1;
            docs += seg.num_docs() as u64;
            for (name, per_field) in [
                ("termdict", seg.termdict()),
                ("postings", seg.postings()),
                ("positions", seg.positions()),
                ("fast_fields", seg.fast_fields()),
                ("fieldnorms", seg.fieldnorms()),
            ] {
                let m = comp.entry(name).or_default();
                for f in per_field.fields() {
                    add(m, f.field_name(), f.total().get_bytes());
                    if name == "fast_fields" {
                        if let Some(d) = f.dictionary_num_bytes() {
                            add(&mut fast_dict, f.field_name(), d.get_bytes());
                        }
                    }
                }
            }
            store_data += seg.store().data_usage().get_bytes();
            store_offsets += seg.store().offsets_usage().get_bytes();
            deletes += seg.deletes().get_bytes();
        }
        if want_paths {
            let schema = index.schema();
            for seg_reader in searcher.segment_readers() {
                for (field, entry) in schema.fields() {
                    let is_json = matches!(entry.field_type(), FieldType::JsonObject(_));
                    let indexed = entry.is_indexed();
                    if !indexed {
                        continue;
                    }
                    let inv = seg_reader.inverted_index(field)?;
                    let mut stream = inv.terms().stream()?;
                    while stream.advance() {
                        let key = stream.key();
                        let info = stream.value();
                        let label = if is_json {
                            // key: path (segments split by \x01), \x00, type code, value
                            let end = key.iter().position(|&b| b == 0).unwrap_or(key.len());
                            let path = String::from_utf8_lossy(&key[..end]).replace('\u{1}', ".");
                            let typ = key.get(end + 1).map(|&b| b as char).unwrap_or('?');
                            format!("{}.{}:{}", entry.name(), path, typ)
                        } else {
                            entry.name().to_string()
                        };
                        let s = paths.entry(label).or_default();
                        s.terms += 1;
                        if info.doc_freq == 1 {
                            s.singleton_terms += 1;
                        }
                        s.key_bytes += key.len() as u64;
                        s.postings += info.postings_range.len() as u64;
                        s.positions += info.positions_range.len() as u64;
                        s.doc_freq += info.doc_freq as u64;
                    }
                }
            }
        }
    }
    let mut out = json!({
        "dirs": dirs,
        "docs": docs,
        "segments": segments,
        "total": total,
        "files_by_extension": file_bytes,
        "store": {"data": store_data, "offsets": store_offsets},
        "deletes": deletes,
        "components": comp,
        "fast_dictionaries": fast_dict,
    });
    if want_paths {
        let p: BTreeMap<String, Value> = paths
            .into_iter()
            .map(|(k, s)| {
                (k, json!({"terms": s.terms, "singleton_terms": s.singleton_terms, "key_bytes": s.key_bytes,
                           "postings": s.postings, "positions": s.positions, "doc_freq": s.doc_freq}))
            })
            .collect();
        out["terms_by_path"] = json!(p);
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    Ok(())
}
