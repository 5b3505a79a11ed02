//! Embeds the shipped defaults (routing rules, starter knowledge base, mail templates and
//! demo mails) into the binary, so `brevduva demo` runs from the binary alone.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut out = String::new();
    for (name, dir, ext) in [
        ("ROUTING_RULES", "routing-rules", "toml"),
        ("KNOWLEDGE_BASE", "index", "jsonl"),
        ("TEMPLATES", "templates", "txt"),
        ("DEMO_MAILS", "demo/mails", "eml"),
    ] {
        let path = Path::new(&root).join(dir);
        println!("cargo:rerun-if-changed={}", path.display());
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == ext));
        files.sort();
        writeln!(out, "/// Files of `{dir}/`, embedded at build time.").unwrap();
        writeln!(out, "pub static {name}: &[(&str, &[u8])] = &[").unwrap();
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let rel = f.strip_prefix(&root).expect("under the manifest dir");
            writeln!(
                out,
                "    ({:?}, include_bytes!({:?})),",
                rel.display().to_string(),
                f.display().to_string()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(dest, out).expect("write embedded.rs");
}
