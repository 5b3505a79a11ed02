//! An open-loop load generator: requests are sent on a fixed schedule (a given rate spread
//! over a number of keep-alive connections), whether or not earlier ones have been
//! answered, and each latency is counted from the moment its request was due. This is how
//! a target like "1,000 answers per second with p99 at most 10 ms" is measured: wrk's
//! closed loop instead measures latency at saturation, where it is only queueing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One open-loop run.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Median latency from due time to full response, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Responses per second achieved.
    pub rps: f64,
    /// Responses that were not 2xx.
    pub errors: usize,
}

/// Sends `rate` requests per second for `seconds` over `connections` connections, taking
/// the raw HTTP/1.1 requests in turn from `requests`. Runs on its own thread and runtime.
pub fn run(
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    connections: usize,
    rate: f64,
    seconds: f64,
) -> Run {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(load(addr, requests, connections, rate, seconds))
    })
    .join()
    .expect("the load generator ran")
}

async fn load(
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    connections: usize,
    rate: f64,
    seconds: f64,
) -> Run {
    let total = (rate * seconds) as usize;
    let requests = std::sync::Arc::new(requests);
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let requests = std::sync::Arc::clone(&requests);
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).unwrap();
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut buf = Vec::with_capacity(64 * 1024);
            for k in (c..total).step_by(connections) {
                let due = start + Duration::from_secs_f64(k as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                stream
                    .write_all(&requests[k % requests.len()])
                    .await
                    .expect("send");
                let status = read_response(&mut stream, &mut buf).await;
                latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                if !(200..300).contains(&status) {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Run {
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        rps: latencies.len() as f64 / elapsed,
        errors,
    }
}

/// Reads one response (headers and a Content-Length body); returns its status.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Content-Length");
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
    status
}
