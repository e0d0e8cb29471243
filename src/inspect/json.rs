//! A JSON re-indenter that keeps every token byte for byte.
//!
//! Parsing into a value and printing it again would reorder keys, drop duplicate keys, and
//! rewrite numbers (`1.10` → `1.1`, big integers → floats). A person debugging a webhook needs
//! to see what was sent, so this only changes the whitespace between tokens.

//!
//! Captured bodies are hostile, so the cost is bounded: indentation grows with nesting, and a
//! document nested deeper than [`MAX_DEPTH`], or one whose indented form would outgrow
//! `budget`, is not re-indented at all (the caller shows it as text). Both checks are linear in
//! the input, so showing any body costs linear time and memory.

use serde::de::IgnoredAny;

const INDENT: &str = "  ";
/// Deepest nesting that is re-indented; real payloads stay far below it.
pub const MAX_DEPTH: usize = 64;

/// The most bytes the indented form of `len` input bytes may take: generous for real payloads
/// (which grow by 1.2–3×), and linear, so a body crafted to be all indentation cannot blow up.
fn budget(len: usize) -> usize {
    len * 16 + 64 * 1024
}

/// The deepest nesting of arrays and objects in `src`, counting only brackets outside strings;
/// stops counting once past `limit`.
fn depth(src: &str, limit: usize) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in src.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > limit {
                    return deepest;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Pretty-prints `src` if it is one valid JSON document within the nesting and size bounds,
/// else `None`.
pub fn pretty(src: &str) -> Option<String> {
    if depth(src, MAX_DEPTH) > MAX_DEPTH {
        return None;
    }
    // serde_json skips an ignored value with a loop, not recursion: linear, never a deep stack.
    serde_json::from_str::<IgnoredAny>(src).ok()?;
    let budget = budget(src.len());
    let mut out = String::with_capacity(src.len() + src.len() / 2);
    let mut depth = 0usize;
    let mut chars = src.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(INDENT);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    out.push(c);
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                let close = if c == '{' { '}' } else { ']' };
                out.push(c);
                if chars.next_if_eq(&close).is_some() {
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
                if out.len() > budget {
                    return None;
                }
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// The kind of a scalar token, for colouring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token {
    Str,
    Num,
    /// `true`, `false`, `null`.
    Lit,
    /// An empty `{}` or `[]`.
    Empty,
}

impl Token {
    /// The CSS class the page colours this kind of token with.
    pub fn class(&self) -> &'static str {
        match self {
            Token::Str => "js",
            Token::Num => "jn",
            Token::Lit => "jl",
            Token::Empty => "jp",
        }
    }
}

/// One line of a JSON document laid out for reading: tokens exactly as sent, nesting given by
/// `Open`/`Close` pairs (which the page turns into foldable blocks).
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A scalar or an empty container, with its key when inside an object.
    Leaf {
        key: Option<String>,
        value: String,
        token: Token,
        comma: bool,
    },
    /// A non-empty object or array opens: its key, its bracket, how many members it holds, and
    /// the text that closes it (for the folded view).
    Open {
        key: Option<String>,
        bracket: char,
        items: usize,
        close: String,
    },
    /// The container opened by the matching `Open` closes.
    Close { text: String },
}

/// Lays `src` out as [`Line`]s if it is one valid JSON document within the nesting bound, else
/// `None`. Linear in the input: each token is copied once.
pub fn lines(src: &str) -> Option<Vec<Line>> {
    if depth(src, MAX_DEPTH) > MAX_DEPTH {
        return None;
    }
    serde_json::from_str::<IgnoredAny>(src).ok()?;
    let b = src.as_bytes();
    let mut out: Vec<Line> = Vec::new();
    // For each open container: the index of its `Open` line.
    let mut open: Vec<usize> = Vec::new();
    let mut key: Option<String> = None;
    let mut last_closed: Option<usize> = None;
    let mut i = 0;
    let count = |out: &mut Vec<Line>, open: &[usize]| {
        if let Some(&at) = open.last()
            && let Line::Open { items, .. } = &mut out[at]
        {
            *items += 1;
        }
    };
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let end = string_end(b, i);
                let text = src[i..end].to_owned();
                i = end;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if b.get(i) == Some(&b':') {
                    i += 1;
                    key = Some(text);
                } else {
                    count(&mut out, &open);
                    out.push(Line::Leaf {
                        key: key.take(),
                        value: text,
                        token: Token::Str,
                        comma: false,
                    });
                }
            }
            c @ (b'{' | b'[') => {
                let close = if c == b'{' { b'}' } else { b']' };
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                count(&mut out, &open);
                if b.get(j) == Some(&close) {
                    let value = format!("{}{}", c as char, close as char);
                    out.push(Line::Leaf {
                        key: key.take(),
                        value,
                        token: Token::Empty,
                        comma: false,
                    });
                    i = j + 1;
                } else {
                    open.push(out.len());
                    out.push(Line::Open {
                        key: key.take(),
                        bracket: c as char,
                        items: 0,
                        close: String::new(),
                    });
                    i += 1;
                }
            }
            c @ (b'}' | b']') => {
                last_closed = open.last().copied();
                if let Some(at) = open.pop()
                    && let Line::Open { close, .. } = &mut out[at]
                {
                    close.push(c as char);
                }
                out.push(Line::Close {
                    text: (c as char).to_string(),
                });
                i += 1;
            }
            b',' => {
                match out.last_mut() {
                    Some(Line::Leaf { comma, .. }) => *comma = true,
                    Some(Line::Close { text }) => {
                        text.push(',');
                        // The folded view of a container shows its comma too.
                        if let Some(Line::Open { close, .. }) = last_closed.map(|at| &mut out[at]) {
                            close.push(',');
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len()
                    && !matches!(b[i], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    i += 1;
                }
                let value = src[start..i].to_owned();
                let token = if matches!(value.as_str(), "true" | "false" | "null") {
                    Token::Lit
                } else {
                    Token::Num
                };
                count(&mut out, &open);
                out.push(Line::Leaf {
                    key: key.take(),
                    value,
                    token,
                    comma: false,
                });
            }
        }
    }
    Some(out)
}

/// The index just past the string token that starts at `b[start]` (a `"`).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut escaped = false;
    for (j, &c) in b.iter().enumerate().skip(start + 1) {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, b'\\') => escaped = true,
            (false, b'"') => return j + 1,
            _ => {}
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::{Line, MAX_DEPTH, Token, lines, pretty};

    #[test]
    fn lines_keep_tokens_and_nesting() {
        let src = r#"{"a": 1.10, "b": [true, "x\"]"], "c": {}, "d": {"e": null}}"#;
        let got = lines(src).unwrap();
        let leaf = |key: Option<&str>, value: &str, token, comma| Line::Leaf {
            key: key.map(str::to_owned),
            value: value.to_owned(),
            token,
            comma,
        };
        let want = vec![
            Line::Open {
                key: None,
                bracket: '{',
                items: 4,
                close: "}".into(),
            },
            leaf(Some("\"a\""), "1.10", Token::Num, true),
            Line::Open {
                key: Some("\"b\"".into()),
                bracket: '[',
                items: 2,
                close: "],".into(),
            },
            leaf(None, "true", Token::Lit, true),
            leaf(None, r#""x\"]""#, Token::Str, false),
            Line::Close { text: "],".into() },
            leaf(Some("\"c\""), "{}", Token::Empty, true),
            Line::Open {
                key: Some("\"d\"".into()),
                bracket: '{',
                items: 1,
                close: "}".into(),
            },
            leaf(Some("\"e\""), "null", Token::Lit, false),
            Line::Close { text: "}".into() },
            Line::Close { text: "}".into() },
        ];
        assert_eq!(got, want);
        assert_eq!(
            lines("-0.5e10").unwrap(),
            vec![leaf(None, "-0.5e10", Token::Num, false)]
        );
        assert!(lines("{").is_none());
        assert!(
            lines(&format!(
                "{}{}",
                "[".repeat(MAX_DEPTH + 1),
                "]".repeat(MAX_DEPTH + 1)
            ))
            .is_none()
        );
    }

    #[test]
    fn keeps_tokens_exactly() {
        let src = r#"{"b":1.10,"a":[],"a":{"x":"q\"{,:}"},"n":123456789012345678901234567890}"#;
        let want = "{\n  \"b\": 1.10,\n  \"a\": [],\n  \"a\": {\n    \"x\": \"q\\\"{,:}\"\n  },\n  \"n\": 123456789012345678901234567890\n}";
        assert_eq!(pretty(src).unwrap(), want);
    }

    #[test]
    fn handles_scalars_nesting_and_rejects_garbage() {
        assert_eq!(pretty(" 42 ").unwrap(), "42");
        assert_eq!(pretty("[ [ ] , { } ]").unwrap(), "[\n  [],\n  {}\n]");
        assert!(pretty("{").is_none());
        assert!(pretty("{} {}").is_none());
    }

    #[test]
    fn deep_or_explosive_documents_are_not_indented() {
        let at_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(pretty(&at_limit).is_some());
        let deeper = format!("[{at_limit}]");
        assert!(pretty(&deeper).is_none());
        // Brackets inside strings are not nesting.
        let quoted = format!("[\"{}\"]", "[".repeat(1000));
        assert!(pretty(&quoted).is_some());
        // Wide at depth: every short element would cost a full line of indentation.
        let wide = format!(
            "{}{}{}",
            "[".repeat(MAX_DEPTH - 1),
            vec!["0"; 50_000].join(","),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(pretty(&wide).is_none());
        let shallow_wide = format!("[{}]", vec!["0"; 50_000].join(","));
        assert!(pretty(&shallow_wide).is_some());
    }
}
