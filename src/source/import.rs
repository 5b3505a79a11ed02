//! `brevduva import PATH...`: `.eml` files, mbox files and Maildirs, or folders of them.

use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Errors while reading import sources.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A path could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One message found in an import source.
#[derive(Debug)]
pub struct ImportedMessage {
    /// Where it was found (file, and position in an mbox).
    pub origin: String,
    /// The raw bytes.
    pub raw: Vec<u8>,
}

/// Files that sit beside mail in folders but are not mail.
fn is_not_mail(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let upper = name.to_ascii_uppercase();
    name.starts_with('.')
        || ["README", "LICENSE", "LICENCE", "COPYING", "NOTICE"]
            .iter()
            .any(|p| upper.starts_with(p))
}

/// Every file to read under the given paths, and how many files that is. Maildirs are read
/// through their `new/` and `cur/` folders; other folders recursively.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    Ok(files)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    let meta = std::fs::metadata(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| ImportError::Read {
            path: path.to_owned(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let is_maildir = path.join("cur").is_dir() && path.join("new").is_dir();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if is_maildir && name == "tmp" {
            continue;
        }
        if entry.is_dir() {
            collect(&entry, out)?;
        } else if !is_not_mail(&entry) {
            out.push(entry);
        }
    }
    Ok(())
}

/// The messages in one file: an mbox (starts with a `From ` line) gives each of its
/// messages, any other file is one message.
pub fn read_file(path: &Path) -> Result<Vec<ImportedMessage>, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let origin = path.display().to_string();
    if !bytes.starts_with(b"From ") {
        return Ok(vec![ImportedMessage { origin, raw: bytes }]);
    }
    let mut messages = Vec::new();
    for (i, item) in
        mail_parser::mailbox::mbox::MessageIterator::new(BufReader::new(bytes.as_slice()))
            .enumerate()
    {
        match item {
            Ok(m) => messages.push(ImportedMessage {
                origin: format!("{origin}#{}", i + 1),
                raw: m.unwrap_contents(),
            }),
            Err(source) => {
                return Err(ImportError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    if messages.is_empty() {
        // A "From " line and nothing a mailbox reader recognises: keep the bytes as one message.
        messages.push(ImportedMessage { origin, raw: bytes });
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_files_give_each_message_and_eml_files_one() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("box.mbox");
        std::fs::write(&mbox, "From a@example.se Fri Nov 27 09:00:00 2026\nSubject: one\n\nText\n\nFrom b@example.se Fri Nov 27 09:01:00 2026\nSubject: two\n\nText\n").unwrap();
        let eml = dir.path().join("one.eml");
        std::fs::write(&eml, "Subject: x\n\ny\n").unwrap();
        std::fs::write(dir.path().join("README.md"), "not mail").unwrap();
        let files = collect_files(&[dir.path().to_owned()]).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(read_file(&mbox).unwrap().len(), 2);
        assert_eq!(read_file(&eml).unwrap().len(), 1);
        assert!(collect_files(&[dir.path().join("missing")]).is_err());
    }
}
