//! The JSON paths a rule can test and a template can copy: `$`, then `.key`, `['key']` or
//! `[index]` steps, at most [`MAX_STEPS`]. No filters, wildcards or scripts: a path names one
//! value, found in one walk down the document.

use serde_json::Value;

/// Most steps in one path.
pub const MAX_STEPS: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path(Vec<Step>);

impl Path {
    /// Parses `$.a.b[0]['c d']`.
    pub fn parse(text: &str) -> Result<Path, String> {
        let bad = || format!("{text:?} is not a JSON path like $.event or $.items[0].id");
        if text.len() > 256 {
            return Err("a JSON path of at most 256 bytes".into());
        }
        let mut rest = text.strip_prefix('$').ok_or_else(bad)?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(bad());
                }
                steps.push(Step::Key(r[..end].to_owned()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix("['") {
                let end = r.find("']").ok_or_else(bad)?;
                steps.push(Step::Key(r[..end].to_owned()));
                rest = &r[end + 2..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(bad)?;
                steps.push(Step::Index(r[..end].parse().map_err(|_| bad())?));
                rest = &r[end + 1..];
            } else {
                return Err(bad());
            }
            if steps.len() > MAX_STEPS {
                return Err(format!("a JSON path of at most {MAX_STEPS} steps"));
            }
        }
        Ok(Path(steps))
    }

    /// The value the path names in `doc`, if there is one.
    pub fn find<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(doc, |v, step| match step {
            Step::Key(k) => v.get(k),
            Step::Index(i) => v.get(*i),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Path;
    use serde_json::json;

    #[test]
    fn paths_name_one_value() {
        let doc = json!({"event": "payment_received", "data": {"items": [{"id": 7}], "a b": 1}});
        let find = |p: &str| Path::parse(p).unwrap().find(&doc).cloned();
        assert_eq!(find("$.event"), Some(json!("payment_received")));
        assert_eq!(find("$.data.items[0].id"), Some(json!(7)));
        assert_eq!(find("$.data['a b']"), Some(json!(1)));
        assert_eq!(find("$"), Some(doc.clone()));
        assert_eq!(find("$.data.items[3]"), None);
        for bad in ["event", "$..x", "$.a[x]", "$.a[", "$['a"] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
        assert!(Path::parse(&format!("${}", ".a".repeat(40))).is_err());
    }
}
