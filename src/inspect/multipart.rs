//! Splits a `multipart/*` body into its parts for display.
//!
//! Lenient by design: it shows whatever well-formed parts it finds and gives up (returning
//! `None`, so the caller shows the raw text) when there is no valid boundary or no part to
//! split off. Boundaries are held to RFC 2046's 70 characters, which keeps the search linear.

use super::{HEX_LIMIT, Part, hexdump, text};

/// The parts of `body`, using the boundary from the Content-Type header `content_type`.
pub fn parse(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = param(content_type, "boundary").filter(|b| (1..=70).contains(&b.len()))?;
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut rest = &body[find(body, delimiter)? + delimiter.len()..];
    let mut parts = Vec::new();
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let end = find_delimiter(rest, delimiter).unwrap_or(rest.len());
        parts.push(part(&rest[..end]));
        if end == rest.len() {
            break;
        }
        rest = &rest[end + 2 + delimiter.len()..];
    }
    (!parts.is_empty()).then_some(parts)
}

fn find_delimiter(hay: &[u8], delimiter: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = find(&hay[from..], delimiter) {
        let at = from + i;
        if at >= 2 && &hay[at - 2..at] == b"\r\n" {
            return Some(at - 2);
        }
        from = at + 1;
    }
    None
}

fn part(raw: &[u8]) -> Part {
    let (head, content) = match find(raw, b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => (&[][..], raw),
    };
    let head = String::from_utf8_lossy(head);
    let mut p = Part {
        name: None,
        filename: None,
        content_type: None,
        size: content.len(),
        text: text(content, true),
        hex: Vec::new(),
    };
    if p.text.is_none() {
        p.hex = hexdump(&content[..content.len().min(HEX_LIMIT)]);
    }
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-disposition" => {
                p.name = param(value, "name");
                p.filename = param(value, "filename");
            }
            "content-type" => p.content_type = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    p
}

/// A `key=value` or `key="value"` parameter of a header value such as Content-Type.
fn param(header: &str, key: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .to_owned()
        })
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\x02\r\n--XyZ--\r\n";
        let parts = parse("multipart/form-data; boundary=\"XyZ\"", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name.as_deref(), Some("title"));
        assert_eq!(parts[0].text.as_deref(), Some("hello"));
        assert_eq!(parts[1].filename.as_deref(), Some("a.bin"));
        assert_eq!(
            parts[1].content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(parts[1].size, 3);
        assert!(parts[1].text.is_none());
        assert!(parts[1].hex[0].starts_with("00000000  00 01 02"));
    }

    #[test]
    fn no_boundary_means_no_parts() {
        assert!(parse("multipart/form-data", b"x").is_none());
        assert!(parse("multipart/form-data; boundary=q", b"no delimiter here").is_none());
        let long = format!("multipart/form-data; boundary={}", "b".repeat(71));
        assert!(parse(&long, b"--x").is_none());
    }

    #[test]
    fn a_body_with_no_part_to_split_is_not_multipart() {
        // Only a closing delimiter: the text before it would be lost if shown as zero parts.
        assert!(
            parse(
                "multipart/form-data; boundary=b",
                b"hello secret text --b--b"
            )
            .is_none()
        );
        let v = super::super::view(
            Some("multipart/form-data; boundary=b"),
            b"hello secret text --b--b",
            true,
        );
        assert_eq!(
            v,
            super::super::BodyView::Text("hello secret text --b--b".into())
        );
    }
}
