//! `hrhub demo` through the real binary: `--once` syncs every mock
//! platform, imports the sample export, pushes signed events, summarizes
//! and exits; without it the demo serves like `hrhub serve` (schedules,
//! API, dashboard) with the admin token it prints, until SIGTERM.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The connectors the demo polls, all on schedules.
const POLLED: [&str; 6] = [
    "dingtalk-demo",
    "wecom-demo",
    "zendesk-demo",
    "moodle-demo",
    "lrs-demo",
    "cornerstone-demo",
];

fn demo(dir: &std::path::Path, once: bool) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("demo")
        .arg("--tickets")
        .arg("150")
        .arg("--dir")
        .arg(dir)
        .env_remove("HRHUB_CONFIG")
        // the demo allows its mocks' 127.0.0.1 itself
        .env_remove("HRHUB_ALLOW_PRIVATE_URLS");
    if once {
        cmd.arg("--once");
    }
    cmd
}

/// Checks the part of the output both modes print.
fn check_summary(out: &str) {
    assert!(!out.contains("FAILED"), "{out}");
    for connector in POLLED {
        assert!(
            out.contains(&format!("{connector}/")),
            "{connector}:\n{out}"
        );
    }
    assert!(
        out.contains("exports-demo/training_export: rows 4 · unchanged 0 · upserted 4"),
        "{out}"
    );
    assert!(out.contains("accepted = true"), "{out}");
    assert!(out.contains("HTTP 200"), "{out}");
    assert!(out.contains("identity conflicts: 0"), "{out}");
    let training = out
        .lines()
        .find(|l| l.trim_start().starts_with("training_result"))
        .unwrap_or_else(|| panic!("no training_result line:\n{out}"));
    let rows: i64 = training.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(rows > 500, "{training}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_once_syncs_everything_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = demo(dir.path(), true);
    cmd.env("HRHUB_LOG", "debug");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_summary(&text);
    assert!(!text.contains("admin token"), "{text}");
    secrets_stay_out_of(
        &format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
        dir.path(),
    )
    .await;
    // issue 6, item 16: the store keeps no credential in plain text (API
    // tokens are kept as hashes; connector credentials stay in the config)
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("hrhub.db") {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(stored.len() > 100_000, "the store files were read");
    let stored = String::from_utf8_lossy(&stored);
    for secret in credentials(dir.path()) {
        assert!(
            !stored.contains(&secret),
            "`{secret}` is stored in plain text"
        );
    }
}

/// Issue 6, item 16: with DEBUG logging on, no credential from the config
/// (tokens, secrets, passwords, AES keys) and no employee's phone number
/// appears in what the hub printed or logged.
async fn secrets_stay_out_of(output: &str, dir: &std::path::Path) {
    assert!(output.contains("DEBUG"), "debug logging was on");
    for secret in sensitive_values(dir).await {
        let local = secret.trim_start_matches("+86");
        assert!(
            !output.contains(local),
            "`{secret}` appears in the demo's output or log"
        );
    }
}

/// The demo config's credentials and its employees' phone numbers.
async fn sensitive_values(dir: &std::path::Path) -> Vec<String> {
    let mut secrets = credentials(dir);
    let store = open_store(dir).await;
    let mobiles: Vec<String> = all_rows(&store, hrhub_model::EntityKind::Employee)
        .await
        .iter()
        .filter_map(|e| e["mobile"].as_str().map(str::to_string))
        .collect();
    assert!(
        !mobiles.is_empty(),
        "the demo's employees have phone numbers"
    );
    secrets.extend(mobiles);
    secrets
}

/// The credentials (tokens, secrets, passwords, AES keys) of the demo config.
fn credentials(dir: &std::path::Path) -> Vec<String> {
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("hrhub.toml")).unwrap()).unwrap();
    let mut secrets = Vec::new();
    fn collect(value: &toml::Value, key: &str, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| collect(v, k, out)),
            toml::Value::Array(a) => a.iter().for_each(|v| collect(v, key, out)),
            toml::Value::String(s)
                if ["token", "secret", "password", "aes_key"]
                    .iter()
                    .any(|word| key.contains(word)) =>
            {
                out.push(s.clone())
            }
            _ => {}
        }
    }
    collect(&toml::Value::Table(config), "", &mut secrets);
    assert!(
        secrets.len() >= 8,
        "the demo config has credentials: {secrets:?}"
    );
    secrets
}

/// Kills and reaps the demo if the test ends early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_the_api_with_the_token_it_prints_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = demo(dir.path(), false)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut demo = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // everything up to the token line
    let mut out = String::new();
    let token = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{e}; the demo printed:\n{out}"));
        out.push_str(&line);
        out.push('\n');
        if let Some(token) = line.split("admin token (dashboard and API): ").nth(1) {
            break token.trim().to_string();
        }
    };
    check_summary(&out);
    let url = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("dashboard: "))
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let client = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut req = client.get(format!("{url}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(get("/", None).await.unwrap().status(), 200);
    assert_eq!(
        get("/api/v1/sync/status", None).await.unwrap().status(),
        401
    );
    let status: Value = get("/api/v1/sync/status", Some(&token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let streams = status["streams"].as_array().unwrap();
    for connector in POLLED {
        let mine: Vec<&Value> = streams
            .iter()
            .filter(|s| s["connector"] == connector)
            .collect();
        assert!(!mine.is_empty(), "{connector} in {status}");
        for s in mine {
            assert_eq!(s["status"], "done", "{s}");
            assert!(s["next_scheduled"].is_string(), "scheduled: {s}");
        }
    }
    // the training platforms' partner staff wait for an employee
    let unmatched: Value = get("/api/v1/identity/unmatched", Some(&token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let partners = unmatched["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| {
            u["email"]
                .as_str()
                .is_some_and(|e| e.ends_with("@partner.example"))
        })
        .count();
    assert!(partners >= 3, "{unmatched}");

    // Issue 6, item 16: no API response an admin can read carries a
    // credential or a phone number; every GET route of the OpenAPI document
    let doc: Value = get("/api/v1/openapi.json", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let employee_id = get("/api/v1/employees?limit=1", Some(&token))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["data"][0]["id"]
        .clone();
    let mut bodies = String::new();
    let mut crawled = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_none() || path == "/" {
            continue;
        }
        let concrete = path.replace("{id}", &employee_id.to_string());
        if concrete.contains('{') {
            continue; // webhooks: the platforms' URL checks, no data
        }
        let query = if path.contains("performance") || path.contains("probation") {
            "?from=2020-01-01&to=2030-01-01"
        } else {
            ""
        };
        let response = get(&format!("{concrete}{query}"), Some(&token))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {concrete}{query}");
        bodies.push_str(&response.text().await.unwrap());
        crawled += 1;
    }
    assert!(crawled >= 15, "{crawled} routes crawled");
    assert!(bodies.contains("*******"), "phone numbers are shown masked");
    for secret in sensitive_values(dir.path()).await {
        let local = secret.trim_start_matches("+86");
        assert!(
            !bodies.contains(local),
            "`{secret}` appears in an API response"
        );
    }

    // SIGTERM stops it cleanly
    let pid = demo.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut rest = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(rest.contains("Inspect it with"), "{rest}");
    let status = tokio::task::spawn_blocking(move || demo.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}
