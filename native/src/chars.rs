//! Character classes given by Python, never decided here: Rust's `char::is_alphanumeric` and
//! `char::is_whitespace` follow another Unicode version and other properties than Python's `\w`
//! and `\s`, so the Python side hands over the code points its own regular expressions match
//! (as sorted, disjoint, inclusive ranges) and Rust only looks them up.

pub struct Class {
    ascii: [bool; 128],
    ranges: Vec<(u32, u32)>,
}

impl Class {
    pub fn new(mut ranges: Vec<(u32, u32)>) -> Result<Class, String> {
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            if pair[0].1 >= pair[1].0 {
                return Err(format!("overlapping ranges {:?} and {:?}", pair[0], pair[1]));
            }
        }
        if ranges.iter().any(|&(a, b)| a > b) {
            return Err("a range ends before it starts".into());
        }
        let mut ascii = [false; 128];
        for (c, slot) in ascii.iter_mut().enumerate() {
            *slot = lookup(&ranges, c as u32);
        }
        Ok(Class { ascii, ranges })
    }

    #[inline]
    pub fn has(&self, c: char) -> bool {
        let c = c as u32;
        if c < 128 {
            self.ascii[c as usize]
        } else {
            lookup(&self.ranges, c)
        }
    }
}

fn lookup(ranges: &[(u32, u32)], c: u32) -> bool {
    // the last range starting at or before c
    let n = ranges.partition_point(|&(a, _)| a <= c);
    n > 0 && ranges[n - 1].1 >= c
}
