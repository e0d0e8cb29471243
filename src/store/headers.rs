//! The stored form of a header list: length-prefixed raw bytes, so that order, duplicates and
//! non-UTF-8 values survive exactly (JSON could not hold arbitrary bytes).
//!
//! Layout: for each header, a u32 LE name length, the name, a u32 LE value length, the value.

use crate::model::Header;

/// Encodes `(name, value)` pairs in order.
pub fn encode<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    // Room for a typical request's headers, so most encodings never reallocate.
    let mut out = Vec::with_capacity(512);
    for (name, value) in headers {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Decodes what [`encode`] wrote; `None` if the bytes are not in that form.
pub fn decode(mut buf: &[u8]) -> Option<Vec<Header>> {
    fn take<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
        let field = buf.get(4..4 + len)?;
        *buf = &buf[4 + len..];
        Some(field)
    }
    let mut headers = Vec::new();
    while !buf.is_empty() {
        let name = String::from_utf8(take(&mut buf)?.to_vec()).ok()?;
        let value = take(&mut buf)?.to_vec();
        headers.push(Header { name, value });
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_order_duplicates_and_raw_bytes() {
        let headers = vec![
            Header {
                name: "x-a".into(),
                value: b"1".to_vec(),
            },
            Header {
                name: "x-b".into(),
                value: vec![0xff, 0xfe, b'z'],
            },
            Header {
                name: "x-a".into(),
                value: Vec::new(),
            },
        ];
        let pairs = headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_slice()));
        assert_eq!(decode(&encode(pairs)).unwrap(), headers);
        assert_eq!(decode(&[]).unwrap(), vec![]);
        assert!(decode(&[5, 0, 0, 0, b'a']).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_header_list_round_trips(list in proptest::collection::vec(("[a-z0-9-]{1,20}", proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)), 0..12)) {
            let headers: Vec<Header> = list.into_iter().map(|(name, value)| Header { name, value }).collect();
            let pairs = headers.iter().map(|h| (h.name.as_str(), h.value.as_slice()));
            proptest::prop_assert_eq!(decode(&encode(pairs)).unwrap(), headers);
        }

        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
