//! Running `wrk` (Debian package `wrk`) from a benchmark and reading its latency report.

use std::path::Path;
use std::process::Command;

/// One wrk run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Run {
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Requests per second.
    pub rps: f64,
    /// Requests in all.
    pub requests: u64,
}

fn millis(value: &str) -> f64 {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (n, unit) = value.split_at(split);
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        _ => f64::NAN,
    }
}

/// Reads wrk's `--latency` report.
pub fn parse(out: &str) -> Run {
    let mut run = Run::default();
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => run.p50_ms = millis(v),
            ["99%", v] => run.p99_ms = millis(v),
            ["Requests/sec:", v] => run.rps = v.parse().unwrap_or(f64::NAN),
            [n, "requests", "in", ..] => run.requests = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    run
}

/// Runs wrk against `url` with `connections` clients on `threads` threads for `seconds`,
/// optionally with a Lua script; fails loudly on errors or non-2xx answers.
pub fn run(
    url: &str,
    connections: u32,
    threads: u32,
    seconds: u64,
    script: Option<&Path>,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = Command::new("wrk");
    cmd.args([
        &format!("-t{threads}"),
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--timeout",
        "10s",
        "--latency",
    ]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("running wrk (install it: apt-get install -y wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Non-2xx"),
        "non-2xx responses under load:\n{text}"
    );
    let run = parse(&text);
    assert!(
        run.p50_ms.is_finite() && run.p99_ms.is_finite() && run.rps > 0.0,
        "could not read wrk's output:\n{text}"
    );
    run
}

/// The median of values.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
