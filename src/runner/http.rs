//! The runner's HTTP side: one reqwest client that never follows redirects
//! (so a token never reaches another host), a per-request timeout, a bounded
//! body, and pacing (`--rate` for every request, `--write-interval` between
//! writes) as a well-behaved VK client does.

use crate::validate::HttpAnswer;
use std::time::{Duration, Instant};

/// The largest body the runner reads (8 MiB).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct OutRequest {
    /// HTTP method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body and its content type.
    pub body: Option<(String, Vec<u8>)>,
}

/// What came back.
#[derive(Debug, Clone)]
pub enum Sent {
    /// An answer (possibly with a body error).
    Answer(HttpAnswer),
    /// Nothing within the timeout.
    Timeout,
    /// The connection failed.
    Transport(String),
    /// A 3xx answer (not followed).
    Redirect {
        /// Status.
        status: u16,
        /// The `Location` header.
        location: Option<String>,
    },
}

/// Spaces requests: at most `rate` per second, writes at least `write_interval` apart.
#[derive(Debug)]
pub struct Pacer {
    interval: Option<Duration>,
    write_interval: Duration,
    last: Option<Instant>,
    last_write: Option<Instant>,
}

impl Pacer {
    /// A pacer; `rate` None or non-positive means unlimited.
    pub fn new(rate: Option<f64>, write_interval: Duration) -> Pacer {
        let interval = rate
            .filter(|r| *r > 0.0 && r.is_finite())
            .map(|r| Duration::from_secs_f64(1.0 / r));
        Pacer {
            interval,
            write_interval,
            last: None,
            last_write: None,
        }
    }

    /// How long to wait before the next request (and records it as sent then).
    pub fn reserve(&mut self, write: bool, now: Instant) -> Duration {
        let mut at = now;
        if let (Some(i), Some(last)) = (self.interval, self.last) {
            at = at.max(last + i);
        }
        if write {
            if let Some(lw) = self.last_write {
                at = at.max(lw + self.write_interval);
            }
        }
        self.last = Some(at);
        if write {
            self.last_write = Some(at);
        }
        at - now
    }

    /// Waits for the next slot.
    pub async fn wait(&mut self, write: bool) {
        let d = self.reserve(write, Instant::now());
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

/// The HTTP client of a run.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    /// Pacing of every request.
    pub pacer: Pacer,
    timeout: Duration,
}

impl Client {
    /// A client with a per-request timeout and pacing.
    pub fn new(timeout: Duration, pacer: Pacer) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("vkconform/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            pacer,
            timeout,
        })
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request after waiting for its pacing slot.
    pub async fn send(&mut self, req: &OutRequest, write: bool) -> Sent {
        self.pacer.wait(write).await;
        self.send_now(req).await
    }

    /// Sends one request without pacing.
    pub async fn send_now(&self, req: &OutRequest) -> Sent {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut rb = self.http.request(method, &req.url);
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some((ct, bytes)) = &req.body {
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, ct.as_str())
                .body(bytes.clone());
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Sent::Timeout,
            Err(e) => return Sent::Transport(describe(&e)),
        };
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).to_string(),
                )
            })
            .collect();
        if (300..400).contains(&status) && status != 304 {
            let location = headers
                .iter()
                .find(|(k, _)| k == "location")
                .map(|(_, v)| v.clone());
            return Sent::Redirect { status, location };
        }
        let mut ans = HttpAnswer {
            status,
            headers,
            ..HttpAnswer::default()
        };
        let mut resp = resp;
        loop {
            match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Err(_) => return Sent::Timeout,
                Ok(Ok(Some(chunk))) => {
                    let room = MAX_BODY.saturating_sub(ans.body.len());
                    ans.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if chunk.len() > room {
                        ans.too_large = true;
                        break;
                    }
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) if e.is_timeout() => return Sent::Timeout,
                Ok(Err(e)) => {
                    ans.body_error = Some(describe(&e));
                    break;
                }
            }
        }
        Sent::Answer(ans)
    }
}

/// A reqwest error with its causes, on one line.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_spaces_requests_and_writes() {
        let mut p = Pacer::new(Some(4.0), Duration::from_secs(4));
        let t0 = Instant::now();
        assert_eq!(p.reserve(false, t0), Duration::ZERO);
        assert_eq!(p.reserve(false, t0), Duration::from_millis(250));
        assert_eq!(p.reserve(true, t0), Duration::from_millis(500));
        // The next write waits for the write interval, not just the rate.
        assert_eq!(p.reserve(true, t0), Duration::from_millis(4500));
        let mut unlimited = Pacer::new(None, Duration::ZERO);
        assert_eq!(
            unlimited.reserve(true, t0) + unlimited.reserve(true, t0),
            Duration::ZERO
        );
    }
}
