//! A Maildir as a source: messages wait in `new/`; one moves to `cur/` (flagged seen) only
//! after its case is committed, so a crash in between means it is read again and then
//! recognised as a duplicate. Nothing is ever deleted.

use std::path::{Path, PathBuf};

/// A Maildir folder.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    /// Opens a Maildir, creating `new/`, `cur/` and `tmp/` when missing.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Messages waiting in `new/`, oldest name first.
    pub fn waiting(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.root.join("new"))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Moves a processed message from `new/` to `cur/` with the seen flag.
    pub fn mark_processed(&self, path: &Path) -> std::io::Result<()> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("message");
        let base = name.split(":2,").next().unwrap_or(name);
        std::fs::rename(path, self.root.join("cur").join(format!("{base}:2,S")))
    }

    /// Delivers raw bytes into `new/` the Maildir way (write to `tmp/`, then rename).
    pub fn deliver(&self, unique_name: &str, raw: &[u8]) -> std::io::Result<PathBuf> {
        let tmp = self.root.join("tmp").join(unique_name);
        std::fs::write(&tmp, raw)?;
        let dest = self.root.join("new").join(unique_name);
        std::fs::rename(&tmp, &dest)?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_move_from_new_to_cur_and_are_never_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(dir.path()).unwrap();
        md.deliver("2.a", b"x").unwrap();
        md.deliver("1.b", b"y").unwrap();
        let waiting = md.waiting().unwrap();
        assert_eq!(waiting.len(), 2);
        assert!(waiting[0].ends_with("1.b"));
        md.mark_processed(&waiting[0]).unwrap();
        assert_eq!(md.waiting().unwrap().len(), 1);
        assert!(dir.path().join("cur/1.b:2,S").exists());
    }
}
