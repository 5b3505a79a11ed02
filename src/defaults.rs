//! The defaults shipped inside the binary: twelve departments' routing rules, the starter
//! knowledge base, mail templates and the demo's sample mails. Configuration can point
//! at folders instead; these are what a new municipality starts with.

use std::path::PathBuf;

mod files {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

fn as_text(files: &[(&str, &[u8])]) -> Vec<(PathBuf, String)> {
    files
        .iter()
        .map(|(name, bytes)| {
            (
                PathBuf::from(name),
                String::from_utf8_lossy(bytes).into_owned(),
            )
        })
        .collect()
}

/// Rule files, `(routing-rules/<id>.toml, text)`.
pub fn routing_rules() -> Vec<(PathBuf, String)> {
    as_text(files::ROUTING_RULES)
}

/// The rule files in use before the panel's edits: those of the configured folder, or the
/// embedded ones.
pub fn rule_files(dir: Option<&std::path::Path>) -> std::io::Result<Vec<(PathBuf, String)>> {
    match dir {
        Some(dir) => read_folder(dir, "toml"),
        None => Ok(routing_rules()),
    }
}

/// Knowledge base files, `(index/<name>.jsonl, text)`.
pub fn knowledge_base() -> Vec<(PathBuf, String)> {
    as_text(files::KNOWLEDGE_BASE)
}

/// Template files, `(templates/<name>.txt, text)`.
pub fn templates() -> Vec<(PathBuf, String)> {
    as_text(files::TEMPLATES)
}

/// Sample citizen mails for `brevduva demo`, `(name, raw bytes)`.
pub fn demo_mails() -> &'static [(&'static str, &'static [u8])] {
    files::DEMO_MAILS
}

/// Reads every file with an extension from a folder, sorted by name.
pub fn read_folder(dir: &std::path::Path, ext: &str) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read_to_string(&p).map(|t| (p, t)))
        .collect()
}
