//! The byte-level tests the normaliser's fast path makes on a raw JSON line before it trusts the
//! parsed object (app/events/normalize.py `_normalize`, app/events/lines.py, and
//! app/events/redact.py `Redactor.may_touch`). Each answers as Python does, or more
//! conservatively (it says "may touch" where Python might say no): the caller then declines and
//! Python decides. What the redactor looks for (needles, the digit table, the separators, the
//! spellings of secret names) is handed over by Python at construction, never written here.

pub struct Scan {
    pub needles: Vec<Vec<Vec<u8>>>, // by first byte (lower case, not empty): a line holding one may match a pattern
    pub class: [u8; 256],       // FIRST | DELETE | ZERO, see `classes`
    pub tails: Vec<Vec<Vec<u8>>>, // by last byte: every spelling of a secret name's end, lower case
    pub reach: usize,           // Redactor._reach
    pub escapes_ok: bool,       // Normalizer._escapes_ok
}

const GAP: &[u8] = b" \t'\"";
const FIRST: u8 = 1; // a needle starts with it
const DELETE: u8 = 2; // redact.py _ASCII_SEPARATORS: deleted before digits are counted
const ZERO: u8 = 4; // redact.py _DIGITS_TO_ZERO makes it a "0"

/// Each byte's class, from the needles (by first byte), the digit table and the separators.
pub fn classes(needles: &[Vec<Vec<u8>>], zero: &[u8; 256], separators: &[u8]) -> [u8; 256] {
    let mut class = [0u8; 256];
    for b in 0..256 {
        class[b] = if needles[b].is_empty() { 0 } else { FIRST } | if zero[b] == b'0' { ZERO } else { 0 };
    }
    for &b in separators {
        class[b as usize] |= DELETE;
    }
    class
}

/// By the byte each starts (or ends) with.
pub fn by_byte(items: Vec<Vec<u8>>, last: bool) -> Vec<Vec<Vec<u8>>> {
    let mut out = vec![Vec::new(); 256];
    for item in items {
        let b = if last { item[item.len() - 1] } else { item[0] };
        out[b as usize].push(item);
    }
    out
}

impl Scan {
    /// lines.py `unescaped`: the line as `may_touch` must see it — itself without a backslash; with
    /// only \" \n \t \r \/ escapes, those decoded (\" as '); None otherwise.
    pub fn text<'a>(&self, line: &'a [u8], buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        if !line.contains(&b'\\') {
            return Some(line);
        }
        if !self.escapes_ok {
            return None;
        }
        buf.clear();
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if b == b'\\' {
                // each backslash must open one of the allowed escapes (Python: the counts agree)
                buf.push(match line.get(i + 1)? {
                    b'"' => b'\'',
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'/' => b'/',
                    _ => return None,
                });
                i += 2;
            } else {
                buf.push(b);
                i += 1;
            }
        }
        Some(buf)
    }

    /// `Redactor.may_touch` on a text without escapes; `lowered` is scratch space. True where
    /// Python says True, and also where a non-ASCII line has a run of 13 digit-like characters
    /// (Python looks closer, with pan.RUN) or a `:`/`=` follows any spelling of a secret name
    /// (Python also requires its last three bytes to be among `ends`, which follows from it
    /// for every spelling of three bytes or more).
    pub fn may_touch(&self, text: &[u8], lowered: &mut Vec<u8>, replaced: &mut Vec<u8>) -> bool {
        lowered.clear();
        lowered.extend(text.iter().map(|b| b.to_ascii_lowercase()));
        // one pass: a needle starts here; a run of 13 digits (deleting separators leaves them
        // where they were: lower-casing changes no digit, separator or non-ASCII byte)
        let mut run = 0;
        for (i, &b) in lowered.iter().enumerate() {
            let class = self.class[b as usize];
            if class & FIRST != 0 && self.needles[b as usize].iter().any(|n| lowered[i..].starts_with(n)) {
                return true;
            }
            if class & DELETE == 0 {
                if class & ZERO != 0 {
                    run += 1;
                    if run >= 13 {
                        return true;
                    }
                } else {
                    run = 0;
                }
            }
        }
        self.may_assign(lowered, replaced)
    }

    /// `Redactor._may_assign` for bytes (see `may_touch` for where it is more conservative).
    fn may_assign(&self, lowered: &[u8], replaced: &mut Vec<u8>) -> bool {
        let mut s = lowered;
        if s.len() >= 40 && s.starts_with(b"{\"@timestamp\":\"") && &s[38..40] == b"z\""
            && s[15..38].iter().all(|b| b"0123456789-:.t".contains(b)) {
            s = &s[40..];
        }
        replaced.clear();
        let mut i = 0;
        while i < s.len() {
            replaced.push(s[i]);
            i += if s[i] == b'"' && s.get(i + 1) == Some(&b':') { 2 } else { 1 };
        }
        for (pos, &b) in replaced.iter().enumerate() {
            if b != b':' && b != b'=' {
                continue;
            }
            let start = pos.saturating_sub(self.reach);
            let mut window = &replaced[start..pos];
            while let Some((last, rest)) = window.split_last() {
                if !GAP.contains(last) {
                    break;
                }
                window = rest;
            }
            while let Some((last, rest)) = window.split_last() {
                if !last.is_ascii_digit() {
                    break;
                }
                window = rest;
            }
            if window.last().is_some_and(|&b| self.tails[b as usize].iter().any(|t| window.ends_with(t)))
                || (start > 0 && window.len() + 16 < self.reach) {
                return true;
            }
        }
        false
    }
}

/// lines.py `keys_unique`: whether `keys`, the number of keys of every object parsed from `line`, proves
/// that no key is repeated in it (its count of `":` equals it, and no `"` is followed by
/// whitespace and then `:`, regex `"[ \t\r\n]+:`).
pub fn keys_unique(line: &[u8], keys: usize) -> bool {
    let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut ends = 0;
    let mut i = 0;
    while i < line.len() {
        if line[i] == b'"' {
            match line.get(i + 1) {
                Some(b':') => ends += 1,
                Some(&b) if ws(b) => {
                    let mut j = i + 1;
                    while j < line.len() && ws(line[j]) {
                        j += 1;
                    }
                    if line.get(j) == Some(&b':') {
                        return false;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    ends == keys
}
