//! The README's table of slash commands is what a moderator reads before typing: it must list exactly the commands,
//! subcommands and options the bot registers (`meetbot::discord::commands::all()`), with the right ones marked
//! optional. A row is `` | `/path sub name:… [optional:…]` | who | what | ``.

use std::collections::BTreeMap;

/// Option name → whether Discord requires it.
type Options = BTreeMap<String, bool>;

const README: &str = include_str!("../README.md");
const SECTION: &str = "## Commands in Discord";

/// Every leaf command (the ones a person can type) by its full path, e.g. `/meetings cancel`.
fn registered() -> BTreeMap<String, Options> {
    fn walk<U, E>(prefix: &str, cmd: &poise::Command<U, E>, out: &mut BTreeMap<String, Options>) {
        let path = format!("{prefix} {}", cmd.name).trim().to_string();
        if cmd.subcommands.is_empty() {
            let options = cmd
                .parameters
                .iter()
                .map(|p| (p.name.to_string(), p.required))
                .collect();
            out.insert(path, options);
        } else {
            for sub in &cmd.subcommands {
                walk(&path, sub, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    for cmd in meetbot::discord::commands::all() {
        walk("/", &cmd, &mut out);
    }
    // `walk` joined "/" and the name with a space.
    out.into_iter()
        .map(|(k, v)| (k.replacen("/ ", "/", 1), v))
        .collect()
}

/// The rows of the README's command table, parsed from the first cell's code span.
fn documented(readme: &str) -> Result<BTreeMap<String, Options>, String> {
    let start = readme
        .find(SECTION)
        .ok_or_else(|| format!("the README has no {SECTION:?} section"))?;
    let section = &readme[start + SECTION.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut out = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `/")) {
        let cell = line[3..]
            .split('`')
            .next()
            .ok_or_else(|| format!("no code span in {line:?}"))?;
        let mut path = Vec::new();
        let mut options = Options::new();
        for word in cell.split_whitespace() {
            let optional = word.starts_with('[');
            match word.trim_start_matches('[').split_once(':') {
                Some((name, _)) => {
                    if options.insert(name.to_string(), !optional).is_some() {
                        return Err(format!("option {name:?} twice in {line:?}"));
                    }
                }
                None if options.is_empty() => path.push(word),
                None => return Err(format!("{word:?} after the options in {line:?}")),
            }
        }
        let path = path.join(" ");
        if out.insert(path.clone(), options).is_some() {
            return Err(format!("{path} has two rows"));
        }
    }
    Ok(out)
}

#[test]
fn readme_command_table_lists_every_registered_command_with_its_options() {
    let documented = documented(README).unwrap();
    let registered = registered();
    assert!(
        registered.len() > 10,
        "expected the full command tree, got {registered:?}"
    );
    for (path, options) in &registered {
        assert_eq!(
            documented.get(path),
            Some(options),
            "README row for {path} (option → required) differs from the registered command"
        );
    }
    for path in documented.keys() {
        assert!(
            registered.contains_key(path),
            "README lists {path}, which the bot does not register"
        );
    }
}

#[test]
fn readme_check_catches_a_missing_command_and_a_wrongly_required_option() {
    // The check above is only worth something if drift shows up in `documented`: a row removed, an option
    // made required.
    let table = "## Commands in Discord\n\n| command | who | what |\n|---|---|---|\n\
                 | `/meetings list [page:…]` | anyone | x |\n| `/meetings cancel meeting:… only_next:…` | host | y |\n";
    let parsed = documented(table).unwrap();
    assert_eq!(parsed.len(), 2);
    assert!(
        parsed["/meetings cancel"]["only_next"],
        "written without brackets, so required"
    );
    assert_ne!(
        parsed.get("/meetings cancel"),
        registered().get("/meetings cancel")
    );
    assert!(!parsed.contains_key("/meetings link"));
    assert!(documented("no table here").is_err());
}
