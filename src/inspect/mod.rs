//! Turns stored bytes into what a person wants to read: pretty JSON, form fields, multipart
//! parts, text, or a hex dump. Pure functions over `&[u8]`; rendering and escaping are the
//! templates' job, so nothing here produces markup.

pub mod diff;
#[cfg(test)]
mod fuzz;
pub mod json;
pub mod multipart;
pub mod signatures;
mod xml;

/// How much of a body the request page loads and shows; the rest is one download away.
pub const INLINE_LIMIT: usize = 256 * 1024;
/// How many bytes of a binary body are shown as a hex dump.
pub const HEX_LIMIT: usize = 16 * 1024;

/// A body decoded for display.
#[derive(Debug, PartialEq)]
pub enum BodyView {
    Empty,
    /// Valid JSON, re-indented without changing a single token.
    Json(String),
    /// Well-formed XML, one element per line.
    Xml(String),
    /// `application/x-www-form-urlencoded` fields in order.
    Form(Vec<(String, String)>),
    /// The parts of a `multipart/*` body.
    Multipart(Vec<Part>),
    Text(String),
    /// Hex dump lines of (the first [`HEX_LIMIT`] bytes of) a binary body.
    Binary(Vec<String>),
}

impl BodyView {
    /// A short label for the kind of view, shown beside the body.
    pub fn kind(&self) -> &'static str {
        match self {
            BodyView::Empty => "empty",
            BodyView::Json(_) => "JSON",
            BodyView::Xml(_) => "XML",
            BodyView::Form(_) => "form",
            BodyView::Multipart(_) => "multipart",
            BodyView::Text(_) => "text",
            BodyView::Binary(_) => "binary",
        }
    }
}

/// One part of a multipart body.
#[derive(Debug, PartialEq)]
pub struct Part {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub size: usize,
    /// The content as text when it is text, else as hex dump lines.
    pub text: Option<String>,
    pub hex: Vec<String>,
}

/// Chooses and builds the view for `body`; `complete` is false when `body` is only the first
/// part of a larger body, in which case structure that needs the whole body is not attempted.
pub fn view(content_type: Option<&str>, body: &[u8], complete: bool) -> BodyView {
    if body.is_empty() {
        return BodyView::Empty;
    }
    let mime = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let may_be_json = mime.ends_with("json") || mime.is_empty() || mime == "text/plain";
    if complete
        && may_be_json
        && let Some(pretty) = std::str::from_utf8(body).ok().and_then(json::pretty)
    {
        return BodyView::Json(pretty);
    }
    if complete
        && (mime.ends_with("xml") || mime.is_empty() || mime == "text/plain")
        && let Some(pretty) = std::str::from_utf8(body).ok().and_then(xml::pretty)
    {
        return BodyView::Xml(pretty);
    }
    if mime == "application/x-www-form-urlencoded" {
        return BodyView::Form(pairs(body));
    }
    if mime.starts_with("multipart/")
        && let Some(parts) = content_type.and_then(|ct| multipart::parse(ct, body))
    {
        return BodyView::Multipart(parts);
    }
    match text(body, complete) {
        Some(t) => BodyView::Text(t),
        None => BodyView::Binary(hexdump(&body[..body.len().min(HEX_LIMIT)])),
    }
}

/// Re-indents valid JSON text without changing any token; `None` if it is not JSON.
pub fn pretty_json(src: &str) -> Option<String> {
    json::pretty(src)
}

/// Decodes `a=1&b=x+y` style pairs (query strings and form bodies), in order.
pub fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Bytes in the largest binary unit that keeps the number readable.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The bytes as text if they are UTF-8 without control characters that mark binary data;
/// a character cut off by truncation at the end is tolerated when `complete` is false.
fn text(body: &[u8], complete: bool) -> Option<String> {
    let valid = match std::str::from_utf8(body) {
        Ok(s) => s,
        Err(e) if !complete && e.error_len().is_none() => {
            std::str::from_utf8(&body[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let binary = valid
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0c'));
    (!binary).then(|| valid.to_owned())
}

/// Classic 16-bytes-per-line dump: offset, hex bytes, printable ASCII.
pub fn hexdump(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let mut line = format!("{:08x}  ", i * 16);
            for j in 0..16 {
                match chunk.get(j) {
                    Some(b) => line.push_str(&format!("{b:02x} ")),
                    None => line.push_str("   "),
                }
                if j == 7 {
                    line.push(' ');
                }
            }
            line.push_str(" |");
            line.extend(chunk.iter().map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            }));
            line.push('|');
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MiB");
    }

    #[test]
    fn json_is_detected_by_type_or_content() {
        let v = view(Some("application/json"), br#"{"a":1}"#, true);
        assert_eq!(v, BodyView::Json("{\n  \"a\": 1\n}".into()));
        let v = view(None, br#"[1,2]"#, true);
        assert!(matches!(v, BodyView::Json(_)));
        // Broken JSON under a JSON type is still shown, as text.
        let v = view(Some("application/json"), b"{nope", true);
        assert_eq!(v, BodyView::Text("{nope".into()));
        // Truncated JSON is not pretty-printed (it would not parse).
        let v = view(Some("application/json"), br#"{"a":1}"#, false);
        assert!(matches!(v, BodyView::Text(_)));
    }

    #[test]
    fn forms_become_ordered_fields() {
        let v = view(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"b=2&a=x+y%21&a=",
            true,
        );
        let fields = vec![
            ("b".into(), "2".into()),
            ("a".into(), "x y!".into()),
            ("a".into(), "".into()),
        ];
        assert_eq!(v, BodyView::Form(fields));
    }

    #[test]
    fn binary_becomes_a_hex_dump() {
        let body: Vec<u8> = (0u8..20).collect();
        let BodyView::Binary(lines) = view(Some("application/octet-stream"), &body, true) else {
            panic!("expected binary")
        };
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("00000000  00 01 02 03 04 05 06 07  08 09"));
        assert!(lines[1].starts_with("00000010  10 11 12 13 "));
        assert!(lines[0].ends_with("|................|"));
    }

    #[test]
    fn text_tolerates_a_cut_character_only_when_truncated() {
        let body = "héllo".as_bytes();
        let cut = &body[..2];
        assert_eq!(view(None, cut, false), BodyView::Text("h".into()));
        assert!(matches!(view(None, cut, true), BodyView::Binary(_)));
        assert_eq!(view(None, b"", true), BodyView::Empty);
    }
}
