//! Trigram Bloom filters: which lowercased three-byte pieces a block of requests contains.
//!
//! A substring search of at least three bytes can only match a request holding every trigram
//! of the needle, so a block whose filter lacks one of them is skipped without reading it.
//! Filters only ever say "maybe" or "no": the rows of a "maybe" block are still checked exactly,
//! which keeps the search a substring search whatever the hashes do. Every trigram is tagged
//! with its field (body, path, a header's value under its name), so `alpha` in a header never
//! makes a block a candidate for a body search. The hashes are stored on disk: they must never
//! change (a test pins them).

use crate::model::Header;

/// Smallest and largest filter, in log2 bits. A bin's first block starts small (a bin that
/// catches five requests costs 128 bytes); each block that fills up starts its successor at
/// twice the size, up to 8 KiB.
pub const MIN_LOG2: u32 = 10;
pub const MAX_LOG2: u32 = 16;

/// A filter is full (its block is sealed) when this share of its bits is set. Each key sets
/// one bit (hashing every stored byte is the indexer's main cost, and a second bit per key
/// doubled it), so a trigram absent from a full block still passes with odds of 0.35, and a
/// needle of n trigrams with odds of about 0.35^n (a seven-byte needle: 0.5%), for about 2.3
/// bits per distinct trigram.
const FULL_PER_MILLE: u64 = 350;

/// Which field a trigram came from.
#[derive(Clone, Copy)]
pub enum Field<'a> {
    Body,
    Path,
    /// The value of the header with this (lowercased) name.
    HeaderValue(&'a [u8]),
}

/// splitmix64's finalizer: a fixed, well-mixed 64-bit hash step.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A fixed hash of `bytes`, ASCII case folded.
fn hash_folded(tag: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(mix(tag), |h, &b| mix(h ^ u64::from(b.to_ascii_lowercase())))
}

fn seed(field: Field<'_>) -> u64 {
    match field {
        Field::Body => mix(1),
        Field::Path => mix(2),
        Field::HeaderValue(name) => hash_folded(4, name),
    }
}

/// The key of a header name (present at all), case folded.
pub fn header_name_key(name: &[u8]) -> u64 {
    hash_folded(3, name)
}

/// Calls `out` with the key of each trigram of `bytes` (ASCII case folded) in `field`; nothing
/// for fewer than three bytes. Linear in `bytes`, whatever they hold. This runs for every
/// stored byte, so the key is one multiply (Fibonacci hashing): its high bits, which
/// [`positions`] takes, depend on every bit of the seed and the trigram.
pub fn trigram_keys(field: Field<'_>, bytes: &[u8], mut out: impl FnMut(u64)) {
    let seed = seed(field);
    let mut gram = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        gram = ((gram << 8) | u64::from(b.to_ascii_lowercase())) & 0xff_ffff;
        if i >= 2 {
            out((seed ^ gram).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
    }
}

/// Calls `out` with every key a request is indexed under.
pub fn request_keys(path: &str, headers: &[Header], body: &[u8], mut out: impl FnMut(u64)) {
    trigram_keys(Field::Path, path.as_bytes(), &mut out);
    for h in headers {
        let name = h.name.as_bytes();
        out(header_name_key(name));
        trigram_keys(Field::HeaderValue(name), &h.value, &mut out);
    }
    trigram_keys(Field::Body, body, &mut out);
}

/// The bit a key sets in a filter of `2^log2` bits (at most 2^16): from its top 16 bits.
pub fn position(key: u64, log2: u32) -> usize {
    ((key >> 48) & ((1u64 << log2) - 1)) as usize
}

/// One Bloom filter of `2^log2` bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bits {
    log2: u32,
    words: Vec<u64>,
    set: u64,
}

impl Bits {
    /// An empty filter of `2^log2` bits.
    pub fn new(log2: u32) -> Bits {
        Bits {
            log2,
            words: vec![0; 1 << (log2 - 6)],
            set: 0,
        }
    }

    /// The filter stored as `bytes` (little-endian words); `None` when the length is not a
    /// size hookbin writes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Bits> {
        let bits = bytes.len().checked_mul(8)?;
        let log2 = bits.checked_ilog2()?;
        if bits != 1 << log2 || !(MIN_LOG2..=MAX_LOG2).contains(&log2) {
            return None;
        }
        let words: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let set = words.iter().map(|w| u64::from(w.count_ones())).sum();
        Some(Bits { log2, words, set })
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// log2 of the size in bits.
    pub fn log2(&self) -> u32 {
        self.log2
    }

    /// Adds a key.
    pub fn insert(&mut self, key: u64) {
        let p = position(key, self.log2);
        let word = &mut self.words[p / 64];
        let before = *word;
        *word |= 1 << (p % 64);
        self.set += u64::from(*word != before);
    }

    /// True unless some key is certainly absent.
    pub fn may_hold_all(&self, keys: &[u64]) -> bool {
        keys.iter().all(|&k| {
            let p = position(k, self.log2);
            self.words[p / 64] & (1 << (p % 64)) != 0
        })
    }

    /// True when the filter is as full as a block's filter may get.
    pub fn is_full(&self) -> bool {
        self.set * 1000 >= FULL_PER_MILLE << self.log2
    }

    /// The positions of the set bits, in order.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut rest = w;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let b = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    i * 64 + b
                })
            })
        })
    }
}

/// The keys a search needle must all have in a block for the block to be worth reading:
/// `None` when the filter has no part the index can narrow (no needle of three bytes or more,
/// no header name).
pub fn needle_keys(
    path: Option<&str>,
    header: Option<(&str, Option<&str>)>,
    text: Option<&str>,
) -> Option<Vec<u64>> {
    let mut keys = Vec::new();
    if let Some(p) = path {
        trigram_keys(Field::Path, p.as_bytes(), |k| keys.push(k));
    }
    if let Some((name, value)) = header {
        keys.push(header_name_key(name.as_bytes()));
        if let Some(v) = value {
            trigram_keys(Field::HeaderValue(name.as_bytes()), v.as_bytes(), |k| {
                keys.push(k)
            });
        }
    }
    if let Some(t) = text {
        trigram_keys(Field::Body, t.as_bytes(), |k| keys.push(k));
    }
    keys.sort_unstable();
    keys.dedup();
    (!keys.is_empty()).then_some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &[u8]) -> Header {
        Header {
            name: name.into(),
            value: value.to_vec(),
        }
    }

    fn block(path: &str, headers: &[Header], body: &[u8]) -> Bits {
        let mut bits = Bits::new(MAX_LOG2);
        request_keys(path, headers, body, |k| bits.insert(k));
        bits
    }

    #[test]
    fn the_stored_hashes_never_change() {
        // Filters are on disk: a change here would make old blocks miss.
        let mut keys = Vec::new();
        trigram_keys(Field::Body, b"AbC", |k| keys.push(k));
        trigram_keys(Field::Path, b"abc", |k| keys.push(k));
        keys.push(header_name_key(b"X-Kind"));
        assert_eq!(
            keys,
            [
                0xc5da_9249_499b_65fe,
                0xe95c_be88_d00e_9d1d,
                0x8d52_9986_6855_a911
            ]
        );
    }

    #[test]
    fn a_block_may_hold_what_it_holds_in_any_case_and_field() {
        let bits = block(
            "/b/x/Orders",
            &[header("X-Kind", b"Alpha")],
            b"{\"id\":\"ORD-8812\"}\xff\xfe",
        );
        let has = |p: Option<&str>, h: Option<(&str, Option<&str>)>, t: Option<&str>| {
            bits.may_hold_all(&needle_keys(p, h, t).unwrap())
        };
        assert!(has(None, None, Some("ord-8812")));
        assert!(has(Some("orders"), None, None));
        assert!(has(None, Some(("x-kind", Some("ALPHA"))), None));
        assert!(has(None, Some(("X-KIND", None)), None));
        // Present, but in another field.
        assert!(!has(None, None, Some("alpha")));
        assert!(!has(Some("8812"), None, None));
        assert!(!has(None, Some(("x-other", Some("alpha"))), None));
        assert!(!has(None, None, Some("zz-none-zz")));
        // Raw bytes are indexed as they are.
        let mut raw = Vec::new();
        trigram_keys(Field::Body, b"}\xff\xfe", |k| raw.push(k));
        assert!(bits.may_hold_all(&raw));
    }

    #[test]
    fn short_needles_cannot_narrow_a_search() {
        assert_eq!(needle_keys(Some("ab"), None, Some("x")), None);
        assert_eq!(
            needle_keys(None, Some(("a", None)), None).map(|k| k.len()),
            Some(1)
        );
    }

    #[test]
    fn a_filter_round_trips_and_reports_when_full() {
        let mut bits = Bits::new(MIN_LOG2);
        let mut n = 0u64;
        while !bits.is_full() {
            bits.insert(mix(n));
            n += 1;
        }
        // About -ln(0.65) * 1024 = 441 keys set 35% of 1,024 bits.
        assert!((380..520).contains(&n), "{n}");
        let back = Bits::from_bytes(&bits.to_bytes()).unwrap();
        assert_eq!(back, bits);
        assert_eq!(Bits::from_bytes(&[0; 7]), None);
        assert_eq!(Bits::from_bytes(&[0; 64]), None);
    }
}
