//! An XML re-indenter for reading: one element per line, nested elements indented, an element
//! holding only text kept on one line. Tags, attributes and text are copied as sent.
//!
//! It reads tags, not a schema, and bails out (`None`, the caller shows text) on anything it
//! cannot lay out faithfully: an unclosed `<`, a close tag that does not match, text outside the
//! root, or nesting deeper than [`MAX_DEPTH`]. Linear in the input.

const INDENT: &str = "  ";
/// Deepest nesting that is re-indented.
const MAX_DEPTH: usize = 64;

enum Piece<'a> {
    Open(&'a str, &'a str),
    Close(&'a str, &'a str),
    /// A self-closing tag, comment, processing instruction, declaration or CDATA section.
    Alone(&'a str),
    Text(&'a str),
}

/// The element name of a tag's text (`<a:b x="1">` → `a:b`).
fn name(tag: &str) -> &str {
    let inner = tag.trim_start_matches(['<', '/']);
    let end = inner
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(inner.len());
    &inner[..end]
}

fn pieces(src: &str) -> Option<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut rest = src;
    while !rest.is_empty() {
        if !rest.starts_with('<') {
            let end = rest.find('<').unwrap_or(rest.len());
            out.push(Piece::Text(&rest[..end]));
            rest = &rest[end..];
            continue;
        }
        let end = if rest.starts_with("<!--") {
            rest.find("-->")? + 3
        } else if rest.starts_with("<![CDATA[") {
            rest.find("]]>")? + 3
        } else if rest.starts_with("<?") {
            rest.find("?>")? + 2
        } else {
            tag_end(rest)?
        };
        let tag = &rest[..end];
        rest = &rest[end..];
        out.push(if tag.starts_with("</") {
            Piece::Close(tag, name(tag))
        } else if tag.starts_with("<!") || tag.starts_with("<?") || tag.ends_with("/>") {
            Piece::Alone(tag)
        } else {
            Piece::Open(tag, name(tag))
        });
    }
    Some(out)
}

/// The length of the tag at the start of `s`, quotes in attribute values respected.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i + 1),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// Re-indents `src` if it reads as well-formed XML, else `None`.
pub fn pretty(src: &str) -> Option<String> {
    let trimmed = src.trim();
    if !trimmed.starts_with('<') || !trimmed.ends_with('>') {
        return None;
    }
    let pieces = pieces(trimmed)?;
    let mut out = String::with_capacity(src.len() + src.len() / 4);
    let mut open: Vec<&str> = Vec::new();
    let mut i = 0;
    let line = |out: &mut String, depth: usize, text: &str| {
        if !out.is_empty() {
            out.push('\n');
        }
        for _ in 0..depth {
            out.push_str(INDENT);
        }
        out.push_str(text);
    };
    while i < pieces.len() {
        match &pieces[i] {
            Piece::Open(tag, n) => {
                // `<a>text</a>` stays on one line.
                if let (Some(Piece::Text(t)), Some(Piece::Close(close, cn))) =
                    (pieces.get(i + 1), pieces.get(i + 2))
                    && cn == n
                {
                    line(&mut out, open.len(), tag);
                    out.push_str(t);
                    out.push_str(close);
                    i += 3;
                    continue;
                }
                line(&mut out, open.len(), tag);
                open.push(n);
                if open.len() > MAX_DEPTH {
                    return None;
                }
            }
            Piece::Close(tag, n) => {
                if open.pop() != Some(*n) {
                    return None;
                }
                line(&mut out, open.len(), tag);
            }
            Piece::Alone(tag) => line(&mut out, open.len(), tag),
            Piece::Text(t) => {
                let t = t.trim();
                if !t.is_empty() {
                    if open.is_empty() {
                        return None;
                    }
                    line(&mut out, open.len(), t);
                }
            }
        }
        i += 1;
    }
    open.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn indents_elements_and_keeps_text_and_attributes() {
        let src = r#"<?xml version="1.0"?><order id="7" note="a>b"><item>Tea &amp; cake</item><!-- c --><empty/><n:x><y>1</y></n:x></order>"#;
        let want = "<?xml version=\"1.0\"?>\n<order id=\"7\" note=\"a>b\">\n  <item>Tea &amp; cake</item>\n  <!-- c -->\n  <empty/>\n  <n:x>\n    <y>1</y>\n  </n:x>\n</order>";
        assert_eq!(pretty(src).unwrap(), want);
    }

    #[test]
    fn anything_unbalanced_is_left_as_text() {
        assert!(pretty("<a><b></a>").is_none());
        assert!(pretty("<a>").is_none());
        assert!(pretty("<a x=\"1></a>").is_none());
        assert!(pretty("not xml").is_none());
        assert!(pretty("<a/>trailing<b/>").is_none());
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(pretty(&deep).is_none());
    }
}
