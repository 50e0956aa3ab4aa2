//! A reader of the compact JSON that orjson writes (no whitespace, `\uXXXX` only for control
//! characters), into a flat arena of nodes that remember their byte spans: a value is copied to
//! the output as the very bytes orjson wrote for it, so its escaping and its number formatting
//! are orjson's by construction. Anything else (whitespace, a raw control character, a bad
//! escape, depth past MAX_DEPTH) is refused with None: the caller then declines.

pub const MAX_DEPTH: usize = 300;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Obj,
    Arr,
    Str,
    Int,
    Other, // a float, true, false, null
}

#[derive(Clone, Copy, Debug)]
pub struct Node {
    pub kind: Kind,
    pub start: u32, // the value's bytes: src[start..end] (a string with its quotes)
    pub end: u32,
    pub first: u32, // object or array: its children are kids[first..first + len]
    pub len: u32,
    pub esc: bool, // a string with a backslash in it
}

#[derive(Clone, Copy, Debug)]
pub struct Kid {
    pub key: Node, // an object member's key (a Str node); unused for an array item
    pub node: u32,
}

pub struct Doc<'a> {
    pub src: &'a [u8],
    pub nodes: &'a [Node],
    pub kids: &'a [Kid],
    pub root: u32,
}

/// The parser's vectors, kept from one call to the next (no allocation per event).
#[derive(Default)]
pub struct Arena {
    pub nodes: Vec<Node>,
    pub kids: Vec<Kid>,
    pending: Vec<Kid>,
}

const NO_KEY: Node = Node { kind: Kind::Other, start: 0, end: 0, first: 0, len: 0, esc: false };

impl<'a> Doc<'a> {
    pub fn parse(src: &'a [u8], arena: &'a mut Arena) -> Option<Doc<'a>> {
        if src.len() >= u32::MAX as usize {
            return None;
        }
        arena.nodes.clear();
        arena.kids.clear();
        arena.pending.clear();
        let mut p = Parser { s: src, i: 0, nodes: &mut arena.nodes, kids: &mut arena.kids, scratch: &mut arena.pending };
        let root = p.value(0)?;
        if p.i != src.len() {
            return None;
        }
        Some(Doc { src, nodes: &arena.nodes, kids: &arena.kids, root })
    }

    #[inline]
    pub fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    #[inline]
    pub fn children(&self, n: &Node) -> &[Kid] {
        &self.kids[n.first as usize..(n.first + n.len) as usize]
    }

    #[inline]
    pub fn bytes(&self, n: &Node) -> &'a [u8] {
        &self.src[n.start as usize..n.end as usize]
    }

    /// A string node's text between its quotes, as written (escapes not decoded).
    #[inline]
    pub fn inner(&self, n: &Node) -> &'a [u8] {
        &self.src[n.start as usize + 1..n.end as usize - 1]
    }

    /// A string node's decoded text: borrowed when it has no escape, else decoded into `buf`.
    pub fn text<'b>(&self, n: &Node, buf: &'b mut String) -> Option<&'b str>
    where
        'a: 'b,
    {
        let inner = self.inner(n);
        if !n.esc {
            // the whole input was checked to be UTF-8, and a span between quotes starts and
            // ends on character boundaries
            return Some(unsafe { std::str::from_utf8_unchecked(inner) });
        }
        buf.clear();
        unescape(inner, buf)?;
        Some(buf.as_str())
    }

    /// Whether a string node's decoded text equals `name`.
    pub fn text_is(&self, n: &Node, name: &str) -> bool {
        if !n.esc {
            return self.inner(n) == name.as_bytes();
        }
        let mut buf = String::new();
        matches!(unescape(self.inner(n), &mut buf), Some(()) if buf == name)
    }

    /// The member `name` of object `obj` (the last one, as a dict keeps, should a key repeat).
    pub fn member(&self, obj: &Node, name: &str) -> Option<u32> {
        if obj.kind != Kind::Obj {
            return None;
        }
        self.children(obj).iter().rev().find(|kid| self.text_is(&kid.key, name)).map(|kid| kid.node)
    }
}

struct Parser<'a, 'v> {
    s: &'a [u8],
    i: usize,
    nodes: &'v mut Vec<Node>,
    kids: &'v mut Vec<Kid>,
    scratch: &'v mut Vec<Kid>,
}

impl Parser<'_, '_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn push(&mut self, node: Node) -> u32 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    fn value(&mut self, depth: usize) -> Option<u32> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.i;
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let mark = self.scratch.len();
                if self.peek()? == b'}' {
                    self.i += 1;
                } else {
                    loop {
                        if self.peek()? != b'"' {
                            return None;
                        }
                        let key = self.string()?;
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.i += 1;
                        let node = self.value(depth + 1)?;
                        self.scratch.push(Kid { key, node });
                        match self.peek()? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                Some(self.close(Kind::Obj, start, mark))
            }
            b'[' => {
                self.i += 1;
                let mark = self.scratch.len();
                if self.peek()? == b']' {
                    self.i += 1;
                } else {
                    loop {
                        let node = self.value(depth + 1)?;
                        self.scratch.push(Kid { key: NO_KEY, node });
                        match self.peek()? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                Some(self.close(Kind::Arr, start, mark))
            }
            b'"' => {
                let node = self.string()?;
                Some(self.push(node))
            }
            b'-' | b'0'..=b'9' => {
                let mut int = true;
                while let Some(c) = self.peek() {
                    match c {
                        b'0'..=b'9' | b'-' | b'+' => {}
                        b'.' | b'e' | b'E' => int = false,
                        _ => break,
                    }
                    self.i += 1;
                }
                let kind = if int { Kind::Int } else { Kind::Other };
                Some(self.push(Node { kind, start: start as u32, end: self.i as u32, first: 0, len: 0, esc: false }))
            }
            _ => {
                for word in [&b"true"[..], b"false", b"null"] {
                    if self.s[self.i..].starts_with(word) {
                        self.i += word.len();
                        return Some(self.push(Node { kind: Kind::Other, start: start as u32, end: self.i as u32,
                                                     first: 0, len: 0, esc: false }));
                    }
                }
                None
            }
        }
    }

    fn close(&mut self, kind: Kind, start: usize, mark: usize) -> u32 {
        let first = self.kids.len() as u32;
        let len = (self.scratch.len() - mark) as u32;
        self.kids.extend(self.scratch.drain(mark..));
        self.push(Node { kind, start: start as u32, end: self.i as u32, first, len, esc: false })
    }

    /// A string at self.i (its opening quote), not decoded.
    fn string(&mut self) -> Option<Node> {
        let start = self.i;
        self.i += 1;
        let mut esc = false;
        loop {
            self.i += plain_run(&self.s[self.i.min(self.s.len())..]);
            let c = *self.s.get(self.i)?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Some(Node { kind: Kind::Str, start: start as u32, end: self.i as u32, first: 0, len: 0,
                                       esc });
                }
                b'\\' => {
                    esc = true;
                    self.i += 2;
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }
}

/// How many bytes at the start of `s` are plain string content (not `"`, `\\` or below 0x20):
/// eight at a time (SWAR: a byte equal to `"` or `\\`, or below 0x20, sets its high bit in
/// `special`; the lowest such bit is exact).
#[inline]
fn plain_run(s: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= s.len() {
        let w = u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
        let quote = w ^ (ONES * b'"' as u64);
        let backslash = w ^ (ONES * b'\\' as u64);
        let special = ((quote.wrapping_sub(ONES) & !quote) | (backslash.wrapping_sub(ONES) & !backslash)
                       | (w.wrapping_sub(ONES * 0x20) & !w)) & HIGH;
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && s[i] != b'"' && s[i] != b'\\' && s[i] >= 0x20 {
        i += 1;
    }
    i
}

fn hex4(s: &[u8]) -> Option<u32> {
    if s.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in &s[..4] {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// JSON string escapes decoded into `out`; None for a bad escape or a lone surrogate (which no
/// Python str that orjson writes can hold).
pub fn unescape(s: &[u8], out: &mut String) -> Option<()> {
    let mut i = 0;
    let mut plain = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(std::str::from_utf8(&s[plain..i]).ok()?);
        let c = *s.get(i + 1)?;
        i += 2;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let mut code = hex4(&s[i..])?;
                i += 4;
                if (0xD800..0xDC00).contains(&code) {
                    if s.get(i) != Some(&b'\\') || s.get(i + 1) != Some(&b'u') {
                        return None;
                    }
                    let low = hex4(&s[i + 2..])?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    i += 6;
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                out.push(char::from_u32(code)?);
            }
            _ => return None,
        }
        plain = i;
    }
    out.push_str(std::str::from_utf8(&s[plain..]).ok()?);
    Some(())
}

/// `s` as a JSON string the way orjson writes one: `"` and `\` escaped, control characters
/// below 0x20 as \b \t \n \f \r or \u00XX, everything else as it is (UTF-8).
pub fn quote(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
