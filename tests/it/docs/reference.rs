//! docs/cli.md's "Every command and flag" is generated from the definitions clap parses, and
//! each table is checked against what the real binary's `--help` prints for that command.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::process::Command;

use clap::CommandFactory;

const BEGIN: &str = "<!-- begin generated reference -->";
const END: &str = "<!-- end generated reference -->";

/// `|` would end a table cell; line breaks would end the row.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// An argument's help as a sentence: clap's help drops the doc comment's final period.
fn help_of(a: &clap::Arg) -> String {
    let help = a
        .get_long_help()
        .or(a.get_help())
        .map(|h| cell(&h.to_string()));
    let help = help.expect("every argument says what it is for");
    if help.ends_with(['.', '!', '?']) {
        help
    } else {
        format!("{help}.")
    }
}

/// How an argument is written on the command line: `--flag <VALUE>`, `-n, --lines <N>`, `<SLUG>`.
fn spelling(a: &clap::Arg) -> String {
    let value = || {
        a.get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.to_string())
            .unwrap_or_else(|| a.get_id().as_str().to_uppercase())
    };
    if a.is_positional() {
        return format!("<{}>", value());
    }
    let mut s = String::new();
    if let Some(short) = a.get_short() {
        write!(s, "-{short}, ").unwrap();
    }
    write!(s, "--{}", a.get_long().unwrap()).unwrap();
    if a.get_action().takes_values() {
        write!(s, " <{}>", value()).unwrap();
    }
    s
}

fn table(out: &mut String, args: &[&clap::Arg], env_column: bool) {
    if env_column {
        out.push_str("| argument | env | default | what it does |\n|---|---|---|---|\n");
    } else {
        out.push_str("| argument | default | what it does |\n|---|---|---|\n");
    }
    for a in args {
        let mut what = help_of(a);
        let values = a.get_possible_values();
        if a.get_action().takes_values() && !values.is_empty() {
            if values.iter().all(|v| v.get_help().is_some()) {
                for v in &values {
                    let help = cell(&v.get_help().unwrap().to_string());
                    write!(what, " `{}`: {help}.", v.get_name()).unwrap();
                }
            } else {
                let names: Vec<String> = values
                    .iter()
                    .map(|v| format!("`{}`", v.get_name()))
                    .collect();
                write!(what, " One of: {}.", names.join(", ")).unwrap();
            }
        }
        if a.is_global_set() {
            what.insert_str(0, "*Every command.* ");
        }
        let default: Vec<String> = a
            .get_default_values()
            .iter()
            .filter(|_| a.get_action().takes_values())
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = match default.join(",") {
            d if d.is_empty() => String::new(),
            d => format!("`{}`", cell(&d)),
        };
        let flag = format!("`{}`", cell(&spelling(a)));
        if env_column {
            let env = a
                .get_env()
                .map(|e| format!("`{}`", e.to_string_lossy()))
                .unwrap_or_default();
            writeln!(out, "| {flag} | {env} | {default} | {what} |").unwrap();
        } else {
            writeln!(out, "| {flag} | {default} | {what} |").unwrap();
        }
    }
}

fn visible(cmd: &clap::Command) -> Vec<&clap::Arg> {
    cmd.get_arguments().filter(|a| !a.is_hide_set()).collect()
}

/// Every command below the top one, as its words and its definition, depth first.
fn commands(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
    for sub in cmd.get_subcommands() {
        let mut p = path.clone();
        p.push(sub.get_name().to_owned());
        out.push((p.clone(), sub.clone()));
        commands(sub, p, out);
    }
}

/// The reference as markdown, from the same definitions the binary parses.
fn generate() -> String {
    let top = hookbin::cli::Args::command();
    let mut out = String::new();
    out.push_str("### `hookbin`: the server\n\n");
    out.push_str("Run without a command, hookbin serves the pages, the API and the bins.\n\n");
    table(&mut out, &visible(&top), true);
    let mut subs = Vec::new();
    commands(&top, Vec::new(), &mut subs);
    for (path, sub) in &subs {
        write!(out, "\n### `hookbin {}`\n\n", path.join(" ")).unwrap();
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            writeln!(out, "{}.\n", about.to_string().trim().trim_end_matches('.')).unwrap();
        }
        if sub.has_subcommands() {
            let names: Vec<String> = sub
                .get_subcommands()
                .map(|s| format!("`{}`", s.get_name()))
                .collect();
            writeln!(out, "Commands: {}.", names.join(", ")).unwrap();
            continue;
        }
        let args = visible(sub);
        if args.is_empty() {
            out.push_str("No arguments of its own.\n");
        } else {
            table(&mut out, &args, args.iter().any(|a| a.get_env().is_some()));
        }
    }
    out
}

#[test]
fn cli_md_holds_the_reference_clap_parses() {
    let path = super::root().join("docs/cli.md");
    let text = super::read(&path);
    let start = text.find(BEGIN).expect("the begin marker") + BEGIN.len();
    let end = text.find(END).expect("the end marker");
    let wanted = format!("\n{}", generate());
    if std::env::var_os("HOOKBIN_BLESS").is_some() {
        let new = format!("{}{wanted}{}", &text[..start], &text[end..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    assert!(
        text[start..end] == wanted,
        "docs/cli.md's flag reference is not what clap parses; after changing a flag, run \
         HOOKBIN_BLESS=1 cargo test --test it docs:: and commit docs/cli.md"
    );
}

/// The long flags `hookbin WORDS --help` lists, as the user sees them.
fn help_flags(words: &[String]) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_hookbin"))
        .args(words)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "hookbin {words:?} --help failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split([' ', ',']).find(|w| w.starts_with("--")))
        .map(|w| w.split('=').next().unwrap().to_owned())
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

/// The long flags the generated section for `heading` documents.
fn documented_flags(text: &str, heading: &str) -> BTreeSet<String> {
    let start = text
        .find(&format!("\n### `{heading}`"))
        .unwrap_or_else(|| panic!("no section for {heading}"))
        + 1;
    let section = &text[start..];
    let section = &section[..section[3..].find("\n### ").map_or(section.len(), |e| e + 3)];
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1))
        .filter_map(|f| f.split([' ', ',']).find(|w| w.starts_with("--")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_flag_help_prints_is_in_cli_md_and_no_other() {
    let text = super::read(&super::root().join("docs/cli.md"));
    let top = hookbin::cli::Args::command();
    let global: BTreeSet<String> = top
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| format!("--{}", a.get_long().unwrap()))
        .collect();
    assert!(global.contains("--db"), "--db works with every command");
    assert_eq!(
        help_flags(&[]),
        documented_flags(&text, "hookbin"),
        "hookbin --help"
    );
    let mut subs = Vec::new();
    commands(&top, Vec::new(), &mut subs);
    assert!(subs.len() >= 10, "every command is listed: {}", subs.len());
    for (path, _) in subs.iter().filter(|(_, s)| !s.has_subcommands()) {
        let heading = format!("hookbin {}", path.join(" "));
        let mut documented = documented_flags(&text, &heading);
        documented.extend(global.iter().cloned());
        assert_eq!(help_flags(path), documented, "{heading} --help");
    }
}
