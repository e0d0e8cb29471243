//! Every link in README.md and docs/ resolves: relative files exist inside the repository, and
//! every `#anchor` names a heading of the file it points into, slugged the way GitHub does.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// A heading's anchor as GitHub makes it: lower case, punctuation and symbols dropped, spaces
/// become hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings (outside code), with GitHub's `-1`, `-2` for repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let (prose, _) = super::split_fences(text);
    let mut seen = BTreeSet::new();
    for (_, line) in prose {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let heading = rest.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    seen
}

/// Inline code spans removed, so a `](x)` or `src="x"` shown as code is not taken for a link.
fn without_code(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        }
    }
    out
}

/// The targets of a line's links: `[text](target)`, `![alt](target)`, `src="…"` and `href="…"`.
fn targets(line: &str) -> Vec<String> {
    let line = without_code(line);
    let mut found = Vec::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = rest[..end].split_whitespace().next().unwrap_or("");
        found.push(target.to_owned());
        rest = &rest[end..];
    }
    for attr in ["src=\"", "href=\""] {
        let mut rest = line.as_str();
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

/// `path` with `.` and `..` folded, or None if it climbs out of the repository.
fn normal(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// What is wrong with `target`, a link in `from` (relative to the repository), if anything.
fn check(from: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("an empty link".into());
    }
    if target.starts_with("http://") || target.starts_with("https://") {
        return None;
    }
    if target.contains("://") || target.starts_with("mailto:") || target.starts_with('/') {
        return Some(format!(
            "{target}: only repository-relative links and http(s) URLs"
        ));
    }
    let (file, anchor) = match target.split_once('#') {
        Some((f, a)) => (f, Some(a)),
        None => (target, None),
    };
    let file = if file.is_empty() {
        from.to_path_buf()
    } else {
        match normal(&from.parent().unwrap().join(file)) {
            Some(f) => f,
            None => return Some(format!("{target}: leaves the repository")),
        }
    };
    let on_disk = super::root().join(&file);
    if !on_disk.exists() {
        return Some(format!("{target}: {} does not exist", file.display()));
    }
    let anchor = anchor?;
    if file.extension().is_none_or(|x| x != "md") {
        return Some(format!(
            "{target}: an anchor into a file that is not markdown"
        ));
    }
    if !anchors(&super::read(&on_disk)).contains(anchor) {
        return Some(format!(
            "{target}: no heading in {} has this anchor",
            file.display()
        ));
    }
    None
}

#[test]
fn every_link_and_anchor_in_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for path in super::markdown_files() {
        let rel = path.strip_prefix(super::root()).unwrap().to_path_buf();
        let text = super::read(&path);
        for (n, line) in super::split_fences(&text).0 {
            for target in targets(line) {
                checked += 1;
                if let Some(why) = check(&rel, &target) {
                    broken.push(format!("{}:{n}: {why}", rel.display()));
                }
            }
        }
    }
    assert!(checked > 30, "links were found: {checked}");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_leads_to_every_docs_file() {
    let readme = super::read(&super::root().join("README.md"));
    let linked: BTreeSet<String> = super::split_fences(&readme)
        .0
        .iter()
        .flat_map(|(_, l)| targets(l))
        .map(|t| t.split('#').next().unwrap().to_owned())
        .collect();
    for path in super::markdown_files().iter().skip(1) {
        let rel = path.strip_prefix(super::root()).unwrap();
        let rel = rel.to_str().unwrap();
        assert!(linked.contains(rel), "README.md has no link to {rel}");
    }
    assert!(readme.lines().count() <= 250, "the README stays a door");
}

#[test]
fn the_link_checker_finds_what_is_broken() {
    assert_eq!(
        slug("`hookbin listen`: a shared hookbin's captures"),
        "hookbin-listen-a-shared-hookbins-captures"
    );
    assert_eq!(slug("Catch, send & inspect (v2)"), "catch-send--inspect-v2");
    let readme = Path::new("README.md");
    assert!(check(readme, "docs/cli.md").is_none());
    assert!(check(readme, "docs/cli.md#every-command-and-flag").is_none());
    assert!(check(readme, "docs/cli.md#no-such-heading").is_some());
    assert!(check(readme, "docs/nothing.md").is_some());
    assert!(check(readme, "#two-commands").is_none());
    assert!(check(readme, "#two-command").is_some());
    assert!(check(readme, "../outside.md").is_some());
    assert!(
        check(
            Path::new("docs/cli.md"),
            "../README.md#install-it-as-a-tool"
        )
        .is_none()
    );
    assert_eq!(
        targets("see [a](x.md#y) and ![b](c.png) `[not](code)` <img src=\"d.png\">"),
        ["x.md#y", "c.png", "d.png"]
    );
    let dup = anchors("# A\n## A\n```\n# not a heading\n```\n## B b\n");
    assert_eq!(dup, ["a", "a-1", "b-b"].map(String::from).into());
}
