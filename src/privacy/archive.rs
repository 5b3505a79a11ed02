//! A plain tar archive (ustar), written in memory: what a person's export is packed in.
//! Every file is a regular file with mode 0644; names are made safe and kept under 100
//! bytes.

/// Builds an archive from files.
#[derive(Default)]
pub struct TarArchive {
    bytes: Vec<u8>,
}

impl TarArchive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file. The name keeps letters, digits, `.`, `-`, `_` and `/`.
    pub fn add(&mut self, name: &str, contents: &[u8], modified: i64) {
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/') {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
            .trim_start_matches('/')
            .replace("..", "_");
        let name = if name.len() > 99 {
            name[name.len() - 99..].to_owned()
        } else {
            name
        };
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut header[100..108], 0o644);
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], contents.len() as u64);
        octal(&mut header[136..148], modified.max(0) as u64);
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        let checksum = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(checksum.as_bytes());
        self.bytes.extend_from_slice(&header);
        self.bytes.extend_from_slice(contents);
        let pad = (512 - contents.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
    }

    /// The finished archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0u8, 1024));
        self.bytes
    }
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{:0width$o}\0", value, width = field.len() - 1);
    field.copy_from_slice(&text.as_bytes()[text.len() - field.len()..]);
}

#[cfg(test)]
mod tests {
    use super::TarArchive;

    #[test]
    fn tar_reads_back_what_was_written() {
        let mut tar = TarArchive::new();
        tar.add(
            "sammanfattning.txt",
            "Hej å ä ö\n".as_bytes(),
            1_795_770_000,
        );
        tar.add(
            "../KC-2026-000001/meddelande 1.eml",
            b"From: a@b\r\n\r\nx",
            0,
        );
        let bytes = tar.finish();
        assert_eq!(bytes.len() % 512, 0);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.tar");
        std::fs::write(&file, &bytes).unwrap();
        let listed = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&listed.stdout),
            "sammanfattning.txt\n_/KC-2026-000001/meddelande_1.eml\n"
        );
        let out = std::process::Command::new("tar")
            .args(["-xOf"])
            .arg(&file)
            .arg("sammanfattning.txt")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Hej å ä ö\n");
    }
}
