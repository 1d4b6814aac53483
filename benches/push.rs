//! Webhook ingest: DingTalk-style encrypted, signed pushes into a real
//! `hrhub serve` (child process, SQLite) at a fixed offered load, open
//! loop: each request is sent at its scheduled time whether or not earlier
//! ones have been answered, and its latency runs from the scheduled time
//! (so a stall is counted against every request it delays, not hidden).
//!
//! `cargo bench --bench push` (`PUSH_RATE`, default 2,000/s; `PUSH_SECS`,
//! default 15 s measured after 1 s of warm-up).
//!
//! A push counts when the hub answered 200 with DingTalk's encrypted
//! `success`, which it sends only after the event is verified (SHA-1
//! signature, timestamp window), decrypted (AES-256-CBC) and landed in the
//! store; afterwards the bench checks that exactly that many events are
//! held. The events are approval events (`bpms_instance_change`), which
//! land as events only: events naming users or punches also trigger a
//! re-fetch from the platform, which runs after the reply and is bounded
//! by the platform's API budget, not by ingest.
//!
//! Baseline: `GET /healthz` on the same server, same load and schedule:
//! the floor of this machine's HTTP stack plus the load generator sharing
//! its two cores, so the ratio is what verifying, decrypting and landing
//! a push adds over answering at all.

mod common;

use common::*;
use hrhub_dingtalk::mock::{MockDingTalk, MockHandle, MockOptions};
use std::path::Path;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let rate: f64 = std::env::var("PUSH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000.0);
    let secs: f64 = std::env::var("PUSH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15.0);
    println!("{}", machine());
    let dir = tempfile::tempdir().unwrap();
    let mock = MockDingTalk::start(MockOptions {
        qps_limit: None,
        ..MockOptions::default()
    })
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = write_config(dir.path(), port, &mock);
    let server = Served::start(&config, port).await;
    let client = reqwest::Client::new();
    let webhook = format!("{}/webhooks/dt", server.url);

    // the hub answers a genuine push with the encrypted success
    let first = deliveries(&mock, &webhook, 1).pop().unwrap();
    let reply: serde_json::Value = client
        .post(first.0)
        .body(first.1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(mock.reply_is_success(&reply), "{reply}");

    let warm_up = deliveries(&mock, &webhook, rate as usize);
    let measured = deliveries(&mock, &webhook, (rate * secs) as usize);
    let warm_up = open_loop(&client, warm_up, rate).await;
    let pushes = open_loop(&client, measured, rate).await;
    let healthz = format!("{}/healthz", server.url);
    let gets = (0..(rate * secs) as usize)
        .map(|_| (healthz.clone(), Vec::new()))
        .collect();
    let baseline = open_loop(&client, gets, rate).await;
    drop(server);

    let store = hrhub_store::open(&sqlite_url(dir.path())).await.unwrap();
    let landed = store.holdings("dt", "events").await.unwrap().records;
    // an accepted push is a landed event (each has its own event id)
    let accepted = 1 + warm_up.ok + pushes.ok;
    assert!(
        landed as usize >= accepted,
        "{landed} events held for {accepted} accepted pushes"
    );
    println!(
        "pushes: {} accepted, {} refused or failed; {} events held by the store",
        pushes.ok, pushes.failed, landed
    );
    Figure {
        name: format!("webhook ingest rate at {rate:.0}/s offered, SQLite"),
        value: format!("{} pushes/s", thousands(pushes.throughput())),
        baseline: format!("offered: {rate:.0}/s"),
        ratio: format!("{:.2}x", pushes.throughput() / rate),
        target: "≥ 0.99x, none refused".into(),
        met: Some(pushes.throughput() / rate >= 0.99 && pushes.failed == 0),
    }
    .print();
    let (p50, p99) = (pushes.percentile(50.0), pushes.percentile(99.0));
    let (b50, b99) = (baseline.percentile(50.0), baseline.percentile(99.0));
    Figure {
        name: format!("webhook ingest p50 latency at {rate:.0}/s, SQLite"),
        value: format!("{p50:.2} ms"),
        baseline: format!("GET /healthz p50: {b50:.2} ms"),
        ratio: format!("{:.2}x", p50 / b50),
        target: "-".into(),
        met: None,
    }
    .print();
    millis_figure(
        &format!("webhook ingest p99 latency at {rate:.0}/s, SQLite"),
        p99,
        "GET /healthz p99",
        b99,
        20.0,
    );
    println!(
        "latency max: pushes {:.1} ms, /healthz {:.1} ms",
        pushes.percentile(100.0),
        baseline.percentile(100.0)
    );
    println!(
        "push bench finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("hrhub.db").display())
}

fn write_config(dir: &Path, port: u16, mock: &MockHandle) -> std::path::PathBuf {
    let o = mock.options();
    let path = dir.join("hrhub.toml");
    std::fs::write(
        &path,
        format!(
            r#"[store]
url = "{db}"
[server]
listen = "127.0.0.1:{port}"

[[connector]]
id = "dt"
kind = "dingtalk"
base_url = "{url}"
api_base_url = "{url}"
app_key = "{key}"
app_secret = "{secret}"
[connector.webhook]
token = "{token}"
aes_key = "{aes}"
"#,
            db = sqlite_url(dir),
            url = mock.base_url(),
            key = o.app_key,
            secret = o.app_secret,
            token = o.webhook_token,
            aes = o.webhook_aes_key,
        ),
    )
    .unwrap();
    path
}

/// `n` signed, encrypted approval events (each its own event id), as
/// (URL with the signature query, body), built before the clock starts.
fn deliveries(mock: &MockHandle, webhook: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let event = mock.event(
                "bpms_instance_change",
                serde_json::json!({
                    "processInstanceId": format!("a1b2c3-{i}"),
                    "processCode": "PROC-LEAVE-01",
                    "type": "finish",
                    "result": "agree",
                    "title": "Annual leave request",
                }),
            );
            let request = mock.delivery(&event);
            let mut url = reqwest::Url::parse(webhook).unwrap();
            url.query_pairs_mut()
                .extend_pairs(request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            (url.to_string(), request.body)
        })
        .collect()
}

/// What an open-loop run measured.
struct Run {
    ok: usize,
    failed: usize,
    /// Latency of each answered request from its scheduled send time, sorted.
    latencies: Vec<Duration>,
    /// From the first scheduled send to the last answer.
    span: Duration,
}

impl Run {
    fn percentile(&self, p: f64) -> f64 {
        millis(percentile(&self.latencies, p))
    }

    fn throughput(&self) -> f64 {
        self.ok as f64 / self.span.as_secs_f64()
    }
}

/// Sends `requests` (POST with a body, GET without) at `rate` per second
/// on a fixed schedule, each on its own task, and waits for every answer.
async fn open_loop(client: &reqwest::Client, requests: Vec<(String, Vec<u8>)>, rate: f64) -> Run {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(requests.len());
    for (i, (url, body)) in requests.into_iter().enumerate() {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let request = if body.is_empty() {
                client.get(url)
            } else {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
            };
            let ok = match request.send().await {
                // the whole answer is read: the encrypted reply is part of the work
                Ok(res) => res.status() == 200 && res.bytes().await.is_ok(),
                Err(_) => false,
            };
            (ok, scheduled.elapsed(), Instant::now())
        }));
    }
    let mut run = Run {
        ok: 0,
        failed: 0,
        latencies: Vec::with_capacity(tasks.len()),
        span: Duration::ZERO,
    };
    let mut last = start;
    for task in tasks {
        let (ok, latency, done) = task.await.unwrap();
        if ok {
            run.ok += 1;
            run.latencies.push(latency);
        } else {
            run.failed += 1;
        }
        last = last.max(done);
    }
    run.latencies.sort_unstable();
    run.span = last - start;
    run
}

/// A `hrhub serve` child process, killed and reaped when dropped.
struct Served {
    child: std::process::Child,
    url: String,
}

impl Served {
    async fn start(config: &Path, port: u16) -> Served {
        let child = std::process::Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .env("HRHUB_ALLOW_PRIVATE_URLS", "1") // the mocks are on loopback
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let served = Served {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{}/readyz", served.url))
                .send()
                .await
                .is_ok()
            {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("hrhub serve did not start");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
