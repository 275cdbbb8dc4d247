//! The operator docs stay true to the code: every setting the daemon reads is described in
//! docs/configuration.md, every script the runbooks name exists, and every script is named.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const OPERATOR_DOCS: &[&str] = &[
    "docs/runbook_operations.md",
    "docs/runbook_production.md",
    "docs/checklist_daily.md",
    "docs/noc_lite.md",
    "docs/configuration.md",
];

/// The `name.sh` words of a text (a path before them is dropped).
fn script_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '/'))
        .filter(|word| word.ends_with(".sh"))
        .map(|word| word.rsplit('/').next().unwrap().to_string())
        .collect()
}

#[test]
fn every_setting_the_daemon_reads_is_in_configuration_md() {
    let doc = read("docs/configuration.md");
    let mut names: Vec<&str> = crypto_saas::config::SETTINGS.iter().map(|(name, _, _)| *name).collect();
    // Read outside SETTINGS: the settings file (clap and config.rs) and tracing's own filter.
    names.extend(["CONFIG_FILE", "RUST_LOG"]);
    let missing: Vec<&str> = names
        .into_iter()
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not described in docs/configuration.md: {missing:?}"
    );
}

#[test]
fn every_default_in_configuration_md_is_the_code_s() {
    let doc = read("docs/configuration.md");
    for (name, default, _) in crypto_saas::config::SETTINGS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("no table row for {name}"));
        let documented = row.split('|').nth(2).unwrap().trim();
        match default {
            Some("") | None => assert!(
                documented == "empty" || documented.starts_with('—'),
                "{name}: documented default {documented:?}, the code has none"
            ),
            Some(value) => assert_eq!(documented, format!("`{value}`"), "{name}"),
        }
    }
}

#[test]
fn every_script_the_docs_name_exists_and_every_script_is_named() {
    let mut named = BTreeSet::new();
    for doc in OPERATOR_DOCS {
        for name in script_names(&read(doc)) {
            let exists = repo().join("scripts").join(&name).exists()
                || repo().join("scripts/lib").join(&name).exists()
                || repo().join(".github/scripts").join(&name).exists();
            assert!(exists, "{doc} names {name}, which is not in scripts/");
            named.insert(name);
        }
    }
    let scripts: Vec<String> = std::fs::read_dir(repo().join("scripts"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sh"))
        .collect();
    assert!(scripts.len() >= 12, "{scripts:?}");
    let unnamed: Vec<&String> = scripts.iter().filter(|s| !named.contains(*s)).collect();
    assert!(unnamed.is_empty(), "scripts no runbook names: {unnamed:?}");
}

#[test]
fn every_workflow_runs_a_script_that_exists() {
    let dir = repo().join(".github/workflows");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for name in script_names(&text) {
            let found = ["scripts", ".github/scripts"]
                .iter()
                .any(|d| repo().join(d).join(&name).exists());
            assert!(found, "{} runs {name}, which does not exist", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 10, "workflows name {checked} scripts");
}
