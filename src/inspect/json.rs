//! A JSON re-indenter that keeps every token byte for byte.
//!
//! Parsing into a value and printing it again would reorder keys, drop duplicate keys, and
//! rewrite numbers (`1.10` → `1.1`, big integers → floats). A person debugging a webhook needs
//! to see what was sent, so this only changes the whitespace between tokens.

use serde::de::IgnoredAny;

const INDENT: &str = "  ";

/// Pretty-prints `src` if it is one valid JSON document, else `None`.
pub fn pretty(src: &str) -> Option<String> {
    serde_json::from_str::<IgnoredAny>(src).ok()?;
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
    use super::pretty;

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
}
