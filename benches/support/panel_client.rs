//! What the panel benchmarks share: settings from the environment, the target folder,
//! one plain GET, wrk with a session cookie, and timing a call in a row.

use crate::wrk::{self, Run};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Concurrent clients of every wrk load.
pub const CONNECTIONS: u32 = 50;
/// wrk's own threads.
pub const THREADS: u32 = 2;

/// A setting from the environment, or its default.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Cargo's target folder (where benchmarks keep their seeded data).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One plain HTTP/1.1 GET: status and the whole response (status 0 if nothing listens).
pub fn get(port: u16, path: &str, cookie: &str) -> (u16, String) {
    let mut s = match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return (0, format!("connect: {e}")),
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Times an async call `n` times in a row: p50 and p99 in ms.
pub async fn timed<F, Fut>(n: usize, mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(f64::total_cmp);
    (v[n / 2], v[(n * 99 / 100).min(n - 1)])
}

pub fn load_wrk(url: &str, cookie: &str, script: Option<&Path>, seconds: u64) -> Run {
    let headers = [format!("Cookie: {cookie}")];
    wrk::run(
        url,
        &wrk::Load {
            connections: CONNECTIONS,
            threads: THREADS,
            seconds,
            script,
            env: &[],
            headers: &headers,
        },
    )
}
