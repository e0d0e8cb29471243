//! A POSIX shell command that re-sends a capture with curl: same method, URL, headers and body
//! bytes. curl's own default headers are switched off where the original lacked them, text
//! bodies go inline, and any other body is piped in from `printf` octal escapes, so binary
//! bytes (NUL included) arrive exactly. A header value that is not UTF-8 is made by `printf`
//! in the same way. Every `printf` format is built so that it cannot be taken for an option
//! (a leading `-` is escaped too), in bash and dash alike.

use crate::model::Capture;
use crate::relay::travelling;

/// Largest body passed inline as one argument (Linux caps a single argument at 128 KiB).
const INLINE_MAX: usize = 64 * 1024;
/// Body bytes per `printf` call when piping (each escaped byte takes up to 4 characters).
const CHUNK: usize = 16 * 1024;

/// The command that re-sends `c` to `url` (normally the capture's own URL).
pub fn curl(c: &Capture, url: &str) -> String {
    let mut args: Vec<String> = vec!["curl".into(), "--globoff".into(), "--path-as-is".into()];
    match c.method.as_str() {
        "HEAD" => args.push("--head".into()),
        "GET" if c.body.is_empty() => {}
        m => args.extend(["-X".into(), quote(m)]),
    }
    args.push(quote(url));
    let headers = travelling(&c.headers);
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    for (name, value) in &headers {
        // `Name;` is curl's way to send a header with an empty value.
        let h = if value.is_empty() {
            format!("{name};").into_bytes()
        } else {
            [format!("{name}: ").as_bytes(), value].concat()
        };
        let arg = match std::str::from_utf8(&h) {
            Ok(text) => quote(text),
            // Bytes a shell word cannot hold as text: printf makes them (a header has no NUL
            // or newline for the command substitution to lose).
            Err(_) => format!("\"$(printf '{}')\"", printf_escape(&h)),
        };
        args.extend(["-H".into(), arg]);
    }
    let mut defaults = vec!["User-Agent", "Accept"];
    if !c.body.is_empty() {
        defaults.extend(["Content-Type", "Expect"]);
    }
    for name in defaults {
        if !has(name) {
            args.extend(["-H".into(), quote(&format!("{name}:"))]);
        }
    }
    if c.body.is_empty() {
        return args.join(" ");
    }
    match inline_text(&c.body) {
        Some(text) => {
            args.extend(["--data-raw".into(), quote(text)]);
            args.join(" ")
        }
        None => {
            args.extend(["--data-binary".into(), "@-".into()]);
            let printfs: Vec<String> = c
                .body
                .chunks(CHUNK)
                .map(|chunk| format!("printf '{}'", printf_escape(chunk)))
                .collect();
            format!("{{ {}; }} | {}", printfs.join("; "), args.join(" "))
        }
    }
}

/// The body as text when it can go inline: UTF-8, no control bytes but tab, CR and LF, and
/// short enough for one argument.
fn inline_text(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let plain = text
        .chars()
        .all(|ch| !ch.is_control() || matches!(ch, '\t' | '\n' | '\r'));
    (plain && body.len() <= INLINE_MAX).then_some(text)
}

/// Single-quotes `s` for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Bytes as a `printf` format that prints exactly them: printable ASCII as itself, all else
/// (and `%`, `\`, `'`, and a leading `-`, which printf would take for an option) as a
/// three-digit octal escape.
fn printf_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for (i, &b) in bytes.iter().enumerate() {
        let special = matches!(b, b'%' | b'\\' | b'\'') || (i == 0 && b == b'-');
        if (0x20..0x7f).contains(&b) && !special {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BinId, Header, RequestId};

    fn capture(method: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Capture {
        Capture {
            id: RequestId::from_seq(1),
            bin_id: BinId::parse("b").unwrap(),
            received_at: chrono::Utc::now(),
            method: method.into(),
            path: "/b/b".into(),
            query: String::new(),
            http_version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".into(),
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: (*n).into(),
                    value: v.to_vec(),
                })
                .collect(),
            body_size: body.len() as u64,
            body: bytes::Bytes::copy_from_slice(body),
            response_status: 200,
            response_rule: None,
        }
    }

    #[test]
    fn text_bodies_go_inline_and_quotes_survive() {
        let c = capture(
            "POST",
            &[
                ("host", b"x"),
                ("content-type", b"application/json"),
                ("x-q", b"it's"),
            ],
            b"{\"a\":\"it's\"}",
        );
        let cmd = curl(&c, "http://127.0.0.1:1/b/b");
        assert_eq!(
            cmd,
            r#"curl --globoff --path-as-is -X 'POST' 'http://127.0.0.1:1/b/b' -H 'content-type: application/json' -H 'x-q: it'\''s' -H 'User-Agent:' -H 'Accept:' -H 'Expect:' --data-raw '{"a":"it'\''s"}'"#
        );
    }

    #[test]
    fn binary_bodies_are_piped_from_octal_escapes() {
        let c = capture("PUT", &[], &[0, b'%', b'\\', b'\'', 0xff, b'a']);
        let cmd = curl(&c, "http://h/b/b");
        assert!(
            cmd.starts_with(r"{ printf '\000\045\134\047\377a'; } | curl "),
            "{cmd}"
        );
        assert!(cmd.ends_with("--data-binary @-"), "{cmd}");
    }

    #[test]
    fn empty_header_values_and_plain_gets() {
        let c = capture("GET", &[("x-empty", b"")], b"");
        assert_eq!(
            curl(&c, "http://h/b/b"),
            "curl --globoff --path-as-is 'http://h/b/b' -H 'x-empty;' -H 'User-Agent:' -H 'Accept:'"
        );
    }
}
