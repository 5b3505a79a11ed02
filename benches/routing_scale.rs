//! Routing at scale: knowledge bases of 15,000 and 100,000 entries.
//!
//! The entries are the labelled enquiries of `../shared/eval/clinc150-intents` and
//! `banking77` shuffled together (25,003 real texts, 227 classes); larger bases add variants of
//! them (one word left out, two neighbouring words swapped), so every entry is a distinct
//! text.
//! For each size, in a fresh process (so resident memory is that size's alone):
//! index build time (on disk, as `run` keeps it), model training time (held-out choice and
//! calibration included), classification latency p50/p99 over both test sets on one
//! thread, throughput on one and on two threads, accuracy on the test items, and resident
//! memory after loading and at peak.
//!
//! `cargo bench --bench routing_scale`; sizes from `BENCH_KB_SIZES` (default
//! `15000,100000`). Prints one JSON line per size.

use brevduva::routing::{
    Classifier, ClassifierSettings, Enquiry, KnowledgeEntry, KnowledgeIndex, RoutingRules,
};
use std::path::Path;
use std::time::Instant;

#[derive(serde::Deserialize)]
struct Item {
    department: Option<String>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the eval sets live in ../shared/eval)",
            path.display()
        )
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

/// A distinct variant of a text: one word left out and two neighbouring words swapped,
/// chosen by `k`.
fn variant(text: &str, k: usize) -> String {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    if words.len() > 3 {
        words.remove(k % words.len());
        let i = (k / 7) % (words.len() - 1);
        words.swap(i, i + 1);
    }
    format!(
        "{} {}",
        words.join(" "),
        ["please", "thanks", "hi", "hello", "now"][k % 5]
    )
}

fn knowledge_base(eval: &Path, size: usize) -> Vec<KnowledgeEntry> {
    // Both sets shuffled together (the files are sorted by class), so a base smaller than
    // both still covers every class.
    let mut base: Vec<KnowledgeEntry> = read(&eval.join("clinc150-intents/kb.jsonl"));
    base.extend(read::<KnowledgeEntry>(&eval.join("banking77/kb.jsonl")));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..base.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        base.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    let originals = base.len();
    let mut out = Vec::with_capacity(size);
    for i in 0..size {
        let e = &base[i % originals];
        let round = i / originals;
        out.push(KnowledgeEntry {
            id: format!("{}#{round}", e.id),
            text: if round == 0 {
                e.text.clone()
            } else {
                variant(&e.text, i * 31 + round)
            },
            ..e.clone()
        });
    }
    out
}

fn resident_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn throughput(classifier: &Classifier, texts: &[String], threads: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in texts.chunks(texts.len().div_ceil(threads)) {
            scope.spawn(move || {
                for t in part {
                    classifier.classify(Enquiry::text(t)).expect("classifies");
                }
            });
        }
    });
    texts.len() as f64 / started.elapsed().as_secs_f64()
}

fn one_size(eval: &Path, size: usize) -> serde_json::Value {
    let kb = knowledge_base(eval, size);
    let mut tests: Vec<Item> = read(&eval.join("clinc150-intents/test.jsonl"));
    tests.extend(read::<Item>(&eval.join("banking77/test.jsonl")));
    let texts: Vec<String> = tests
        .iter()
        .map(|t| format!("{}\n{}", t.subject, t.text).trim().to_owned())
        .collect();

    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let index = KnowledgeIndex::open_or_build(&dir.path().join("index"), kb).expect("index");
    let index_build_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let classifier = Classifier::new(
        RoutingRules::default(),
        index,
        ClassifierSettings::default(),
    );
    let model_train_ms = started.elapsed().as_secs_f64() * 1e3;
    let rss_loaded_mib = resident_kib("VmRSS:") as f64 / 1024.0;

    let mut latencies = Vec::with_capacity(texts.len());
    let (mut in_scope, mut right) = (0usize, 0usize);
    for (t, item) in texts.iter().zip(&tests) {
        let started = Instant::now();
        let c = classifier.classify(Enquiry::text(t)).expect("classifies");
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        if let Some(truth) = &item.department {
            in_scope += 1;
            right += usize::from(c.department() == Some(truth.as_str()));
        }
    }
    latencies.sort_by(f64::total_cmp);
    let one = throughput(&classifier, &texts, 1);
    let two = throughput(&classifier, &texts, 2);
    serde_json::json!({
        "kb": size,
        "queries": texts.len(),
        "model": classifier.training().model,
        "index_build_ms": index_build_ms.round(),
        "model_train_ms": model_train_ms.round(),
        "p50_ms": percentile(&latencies, 0.5),
        "p99_ms": percentile(&latencies, 0.99),
        "per_s_one_thread": one.round(),
        "per_s_two_threads": two.round(),
        "two_over_one": two / one,
        "accuracy": right as f64 / in_scope as f64,
        "rss_loaded_mib": rss_loaded_mib.round(),
        "rss_peak_mib": (resident_kib("VmHWM:") as f64 / 1024.0).round(),
    })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` builds benches too; only `cargo bench` runs this.
    }
    let eval = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval");
    if let Ok(size) = std::env::var("BENCH_ONE_SIZE") {
        let size: usize = size.parse().expect("BENCH_ONE_SIZE is a number");
        println!("{}", one_size(&eval, size));
        return;
    }
    let sizes = std::env::var("BENCH_KB_SIZES").unwrap_or_else(|_| "15000,100000".into());
    for size in sizes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let out = std::process::Command::new(std::env::current_exe().expect("own path"))
            .arg("--bench")
            .env("BENCH_ONE_SIZE", size)
            .output()
            .expect("run one size");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
