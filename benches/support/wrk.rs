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
    /// Slowest request, ms.
    pub max_ms: f64,
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
            ["Latency", _mean, _stdev, max, ..] => run.max_ms = millis(max),
            ["50%", v] => run.p50_ms = millis(v),
            ["99%", v] => run.p99_ms = millis(v),
            ["Requests/sec:", v] => run.rps = v.parse().unwrap_or(f64::NAN),
            [n, "requests", "in", ..] => run.requests = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    run
}

/// What one wrk run sends and how.
pub struct Load<'a> {
    /// Concurrent connections.
    pub connections: u32,
    /// wrk threads.
    pub threads: u32,
    /// Duration.
    pub seconds: u64,
    /// A Lua script, if any.
    pub script: Option<&'a Path>,
    /// Environment for the script.
    pub env: &'a [(&'a str, &'a str)],
    /// Extra request headers (`Cookie: ...`).
    pub headers: &'a [String],
}

/// Runs wrk against `url`; fails loudly on errors or non-2xx answers, and warns about
/// socket errors.
pub fn run(url: &str, load: &Load<'_>) -> Run {
    let mut cmd = Command::new("wrk");
    cmd.args([
        &format!("-t{}", load.threads),
        &format!("-c{}", load.connections),
        &format!("-d{}s", load.seconds),
        "--timeout",
        "10s",
        "--latency",
    ]);
    for h in load.headers {
        cmd.arg("-H").arg(h);
    }
    if let Some(s) = load.script {
        cmd.arg("-s").arg(s);
    }
    for (k, v) in load.env {
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
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        eprintln!("  warning: {url}: {}", line.trim());
    }
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
