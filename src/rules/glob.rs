//! Path globs: `*` matches any run of characters within one segment, `**` any run at all
//! (slashes too), `?` one character other than `/`; everything else, regex syntax included,
//! is literal. Matching walks the path once per pattern token, so it costs
//! O(path length × pattern length), however the pattern is written.

/// Longest glob, in bytes.
pub const MAX_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    One,
    Segment,
    Any,
}

/// A parsed glob.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob(Vec<Token>);

impl Glob {
    /// Parses a glob, which must start with `/` (it is matched against the sub-path below the
    /// bin, `/` for the bin itself).
    pub fn parse(text: &str) -> Result<Glob, String> {
        if text.len() > MAX_LEN {
            return Err(format!("a glob of at most {MAX_LEN} bytes"));
        }
        if !text.starts_with('/') {
            return Err("a glob over the path below the bin starts with /, like /orders/*".into());
        }
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    while chars.peek() == Some(&'*') {
                        chars.next();
                    }
                    Token::Any
                }
                '*' => Token::Segment,
                '?' => Token::One,
                c => Token::Literal(c),
            });
        }
        Ok(Glob(tokens))
    }

    /// Whether the whole of `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        // reach[i]: the tokens so far can match exactly the first i characters.
        let mut reach = vec![false; chars.len() + 1];
        reach[0] = true;
        for token in &self.0 {
            let mut next = vec![false; chars.len() + 1];
            match token {
                Token::Literal(l) => {
                    for i in 0..chars.len() {
                        next[i + 1] = reach[i] && chars[i] == *l;
                    }
                }
                Token::One => {
                    for i in 0..chars.len() {
                        next[i + 1] = reach[i] && chars[i] != '/';
                    }
                }
                Token::Segment | Token::Any => {
                    let crosses = matches!(token, Token::Any);
                    let mut open = false;
                    for i in 0..=chars.len() {
                        if reach[i] {
                            open = true;
                        }
                        next[i] = open;
                        if i < chars.len() && chars[i] == '/' && !crosses {
                            open = false;
                        }
                    }
                }
            }
            reach = next;
            if !reach.contains(&true) {
                return false;
            }
        }
        reach[chars.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(glob: &str, path: &str) -> bool {
        Glob::parse(glob).unwrap().matches(path)
    }

    #[test]
    fn stars_stay_in_their_segment_and_double_stars_do_not() {
        assert!(m("/orders/*", "/orders/7"));
        assert!(!m("/orders/*", "/orders/7/items"));
        assert!(m("/orders/**", "/orders/7/items"));
        assert!(m("/**/paid", "/a/b/paid"));
        assert!(m("/", "/"));
        assert!(!m("/", "/x"));
        assert!(m("/o?ders", "/orders"));
        assert!(!m("/a?b", "/a/b"));
        assert!(m("/*", "/"));
        assert!(!m("/x", "/xy"));
    }

    #[test]
    fn regex_syntax_is_literal_and_costs_linear_time() {
        assert!(m("/(a+)+$", "/(a+)+$"));
        assert!(!m("/(a+)+$", "/aaaa"));
        let pattern = format!("/{}b", "*a".repeat(400));
        let path = format!("/{}", "a".repeat(60_000));
        assert!(!m(&pattern, &path));
        assert!(Glob::parse("orders").is_err());
        assert!(Glob::parse(&"/".repeat(2000)).is_err());
    }
}
