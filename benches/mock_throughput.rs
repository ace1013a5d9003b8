//! Mock server speed, start-up time and memory, measured in one run.
//!
//! `cargo bench --bench mock_throughput` (env `BENCH_SECONDS`, default 10 per
//! target; `BENCH_SOAK_SECONDS`, default 60; `BENCH_CONNECTIONS`, default 32).
//!
//! 1. Start-up: spawns `vkconform mock --port 0` and times the first stdout
//!    line and the first successful `users.get` (all schemas compiled and
//!    recordings loaded happen before the first line).
//! 2. Throughput: the same `users.get` request against the mock (validation
//!    on) and against a minimal hyper server that returns the mock's bytes,
//!    with the same client, connections and duration, one after the other.
//! 3. Memory: the mock process's RSS sampled while it serves a soak load.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUERY: &str = "/method/users.get?user_ids=1&fields=sex,photo_50&v=5.199";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn load(url: String, seconds: u64, connections: usize) -> (u64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (ok, bad, url) = (ok.clone(), bad.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            while Instant::now() < deadline {
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed))
}

async fn bare_hyper(body: Bytes) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        let mut resp = hyper::Response::new(Full::new(body));
                        resp.headers_mut().insert(
                            "content-type",
                            hyper::header::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn main() {
    let seconds = env_u64("BENCH_SECONDS", 10);
    let soak = env_u64("BENCH_SOAK_SECONDS", 60);
    let connections = env_u64("BENCH_CONNECTIONS", 32) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // 1. Start-up.
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vkconform"))
        .args(["mock", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mock");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let first_line = started.elapsed();
    let base = line.trim().trim_start_matches("listening on ").to_string();
    let url = format!("{base}{QUERY}");
    let body = rt.block_on(async { reqwest::get(&url).await.unwrap().bytes().await.unwrap() });
    let first_answer = started.elapsed();
    println!(
        "start-up: first line after {:.1} ms, first users.get answered after {:.1} ms",
        first_line.as_secs_f64() * 1e3,
        first_answer.as_secs_f64() * 1e3
    );

    // 2. Throughput, mock vs bare hyper, same run.
    let hyper_base = rt.block_on(bare_hyper(body.clone()));
    let (mock_ok, mock_bad) = rt.block_on(load(url.clone(), seconds, connections));
    let (hyper_ok, hyper_bad) =
        rt.block_on(load(format!("{hyper_base}{QUERY}"), seconds, connections));
    let mock_rps = mock_ok as f64 / seconds as f64;
    let hyper_rps = hyper_ok as f64 / seconds as f64;
    println!(
        "throughput ({connections} connections, {seconds} s each, users.get, {} bytes):",
        body.len()
    );
    println!("  vkconform mock: {mock_rps:>10.0} req/s ({mock_bad} errors)");
    println!("  bare hyper:     {hyper_rps:>10.0} req/s ({hyper_bad} errors)");
    println!(
        "  ratio:          {:>10.1} %",
        100.0 * mock_rps / hyper_rps.max(1.0)
    );

    // 3. Memory under a soak load.
    if soak > 0 {
        let pid = child.id();
        let before = rss_kib(pid);
        let sampler = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let end = Instant::now() + Duration::from_secs(soak);
            while Instant::now() < end {
                std::thread::sleep(Duration::from_secs((soak / 6).max(1)));
                samples.push(rss_kib(pid));
            }
            samples
        });
        let (n, _) = rt.block_on(load(url, soak, connections));
        let samples = sampler.join().unwrap();
        let after = rss_kib(pid);
        println!("memory over a {soak} s soak ({n} requests): RSS {before} KiB before, samples {samples:?} KiB, {after} KiB after");
    }
    let _ = child.kill();
    let _ = child.wait();
}
