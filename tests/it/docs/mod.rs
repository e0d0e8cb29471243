//! The door cannot rot: the flags reference in docs/cli.md is the one clap parses, every link
//! and anchor in README.md and docs/ resolves, and every command the README shows is run.

mod commands;
mod links;
mod reference;

use std::path::{Path, PathBuf};

/// The repository's root, where README.md and docs/ live.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The markdown files of the door: README.md and every docs/*.md, sorted.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// A fenced code block of a markdown file: its info string and its lines, the fence's own
/// indentation removed (a block inside a list item is indented with it).
struct Fence {
    info: String,
    lines: Vec<String>,
}

/// Splits `text` into the lines outside fenced code (with their line numbers) and the fences.
fn split_fences(text: &str) -> (Vec<(usize, &str)>, Vec<Fence>) {
    let mut prose = Vec::new();
    let mut fences = Vec::new();
    let mut open: Option<(usize, Fence)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.as_mut() {
            None if trimmed.starts_with("```") => {
                let info = trimmed.trim_start_matches('`').trim().to_owned();
                open = Some((
                    indent,
                    Fence {
                        info,
                        lines: Vec::new(),
                    },
                ));
            }
            None => prose.push((n + 1, line)),
            Some(_) if trimmed.starts_with("```") => fences.push(open.take().unwrap().1),
            Some((fence_indent, fence)) => {
                let cut = line.len() - line.trim_start().len();
                fence.lines.push(line[cut.min(*fence_indent)..].to_owned());
            }
        }
    }
    assert!(open.is_none(), "a fence is never closed");
    (prose, fences)
}
