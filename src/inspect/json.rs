//! A JSON re-indenter that keeps every token byte for byte.
//!
//! Parsing into a value and printing it again would reorder keys, drop duplicate keys, and
//! rewrite numbers (`1.10` → `1.1`, big integers → floats). A person debugging a webhook needs
//! to see what was sent, so this only changes the whitespace between tokens.

//!
//! Captured bodies are hostile, so the cost is bounded: indentation grows with nesting, and a
//! document nested deeper than [`MAX_DEPTH`], or one whose indented form would outgrow
//! [`budget`], is not re-indented at all (the caller shows it as text). Both checks are linear in
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

#[cfg(test)]
mod tests {
    use super::{MAX_DEPTH, pretty};

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
