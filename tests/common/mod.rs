//! Shared helpers for end-to-end tests: a mock Zendesk in the test process,
//! a config pointing at it, and the real `hrhub` binary as a child process.

#![allow(dead_code)]

use hrhub_connector::PushRequest;
use hrhub_model::EntityKind;
use hrhub_store::{SqliteStore, Store};
use hrhub_zendesk::{MockHandle, MockOptions, MockZendesk};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_hrhub");

/// The `hrhub` binary as a child process. The mock platforms listen on
/// 127.0.0.1, which connectors reach only with the SSRF guard lifted
/// (`HRHUB_ALLOW_PRIVATE_URLS=1`): every test that spawns hrhub gets it here.
pub fn hrhub_command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("HRHUB_ALLOW_PRIVATE_URLS", "1");
    cmd
}

pub async fn mock(tickets: usize) -> MockHandle {
    MockZendesk::start(MockOptions {
        tickets,
        // a fixed clock: the same data in every run of the test
        now: Some(1_790_000_000),
        ..MockOptions::default()
    })
    .await
}

/// Writes `hrhub.toml` in `dir` for a connector `zd` reading `mock`.
/// `extra` is appended inside the `[[connector]]` table.
pub fn write_config(dir: &Path, mock: &MockHandle, extra: &str) -> PathBuf {
    let path = dir.join("hrhub.toml");
    let text = format!(
        r#"[store]
url = "sqlite://{db}"

[[connector]]
id = "zd"
kind = "zendesk"
base_url = "{base}"
start_time = 0
incremental_requests_per_minute = 100000
requests_per_minute = 100000
timeout_secs = 10
{extra}

[connector.auth]
type = "api_token"
email = "admin@acme.example"
token = "${{ZD_TOKEN:-mock-api-token}}"
"#,
        db = dir.join("hrhub.db").display(),
        base = mock.base_url(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `hrhub --config CONFIG ARGS…` to completion (on a blocking thread,
/// so the in-process mock keeps serving).
pub async fn hrhub(config: &Path, args: &[&str]) -> Output {
    let mut cmd = hrhub_command();
    cmd.arg("--config").arg(config).args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `hrhub token create --role ROLE --name NAME`: the token it prints.
pub async fn create_token(config: &Path, role: &str, name: &str) -> String {
    let out = hrhub(config, &["token", "create", "--role", role, "--name", name]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).trim().to_string()
}

pub async fn status_json(config: &Path) -> Value {
    let out = hrhub(config, &["status", "--json"]).await;
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The row of `stream` in `status --json`.
pub fn stream_status(status: &Value, stream: &str) -> Value {
    status["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == stream)
        .unwrap_or_else(|| panic!("no stream {stream} in {status}"))
        .clone()
}

/// The last run's counts of `stream` from `status --json`.
pub fn last_counts(status: &Value, stream: &str) -> Value {
    stream_status(status, stream)["last_run"]["counts"].clone()
}

pub async fn open_store(dir: &Path) -> SqliteStore {
    SqliteStore::open(&format!("sqlite://{}", dir.join("hrhub.db").display()))
        .await
        .unwrap()
}

/// Every live unified row, without what legitimately differs between two
/// stores holding the same data (hub ids, run ids, timestamps of writing);
/// employees are referred to by their source key.
pub async fn snapshot(store: &dyn Store) -> Vec<(EntityKind, Vec<Map<String, Value>>)> {
    let employees = all_rows(store, EntityKind::Employee).await;
    let employee_key = |id: &Value| -> Value {
        employees
            .iter()
            .find(|e| &e["id"] == id)
            .map(|e| e["source_key"].clone())
            .unwrap_or(Value::Null)
    };
    let mut out = Vec::new();
    for kind in EntityKind::ALL {
        let mut rows = all_rows(store, kind).await;
        for row in &mut rows {
            if let Some(id) = row.get("employee_id").cloned() {
                row.insert("employee_id".into(), employee_key(&id));
            }
            for volatile in ["id", "raw_record_id", "sync_run_id", "updated_at"] {
                row.remove(volatile);
            }
        }
        rows.sort_by_key(|r| format!("{}|{}", r["connector"], r["source_key"]));
        out.push((kind, rows));
    }
    out
}

/// Every row of an entity table, oldest id first.
pub async fn all_rows(store: &dyn Store, kind: EntityKind) -> Vec<Map<String, Value>> {
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let page = store.entity_rows(kind, after, 5_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        rows.extend(page);
    }
    rows
}

/// Asserts the change log is numbered 1..=n without gaps; returns n.
pub async fn change_log_len(store: &dyn Store) -> i64 {
    let changes = store.changes(0, i64::MAX).await.unwrap();
    for (i, c) in changes.iter().enumerate() {
        assert_eq!(c.seq, i as i64 + 1, "change log has a gap at {i}");
    }
    changes.len() as i64
}

/// A `hrhub serve` child process, killed and reaped when dropped.
pub struct Served {
    child: std::process::Child,
    pub url: String,
}

impl Served {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port for `[server] listen`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `hrhub --config CONFIG serve` (listening on `port`, as the config
/// says) and waits until `/readyz` answers.
pub async fn serve(config: &Path, port: u16) -> Served {
    let child = hrhub_command()
        .arg("--config")
        .arg(config)
        .arg("serve")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let served = Served {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{}/readyz", served.url))
            .send()
            .await
            .is_ok()
        {
            return served;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("hrhub serve did not start"); // dropping `served` kills and reaps it
}

/// Prepends `[server] listen` on `port` to a config written by [`write_config`].
pub fn listen_on(config: &Path, port: u16) {
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        config,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{text}"),
    )
    .unwrap();
}

/// Writes `hrhub.toml` in `dir`: `[server] listen` on `port`, a DingTalk
/// connector `dt` and a WeCom connector `wc` reading the mocks, each with
/// the `[connector.webhook]` settings its mock signs pushes with.
pub fn write_push_config(
    dir: &Path,
    port: u16,
    dt: &hrhub_dingtalk::MockHandle,
    wc: &hrhub_wecom::MockHandle,
) -> PathBuf {
    let (d, w) = (dt.options(), wc.options());
    let text = format!(
        r#"[store]
url = "sqlite://{db}"
[server]
listen = "127.0.0.1:{port}"

[[connector]]
id = "dt"
kind = "dingtalk"
base_url = "{dt_url}"
api_base_url = "{dt_url}"
app_key = "{dt_key}"
app_secret = "{dt_secret}"
[connector.webhook]
token = "{dt_token}"
aes_key = "{dt_aes}"

[[connector]]
id = "wc"
kind = "wecom"
base_url = "{wc_url}"
corp_id = "{wc_corp}"
secret = "{wc_secret}"
contacts_secret = "{wc_contacts}"
[connector.webhook]
token = "{wc_token}"
aes_key = "{wc_aes}"
"#,
        db = dir.join("hrhub.db").display(),
        dt_url = dt.base_url(),
        dt_key = d.app_key,
        dt_secret = d.app_secret,
        dt_token = d.webhook_token,
        dt_aes = d.webhook_aes_key,
        wc_url = wc.base_url(),
        wc_corp = w.corp_id,
        wc_secret = w.app_secret,
        wc_contacts = w.contacts_secret,
        wc_token = w.callback_token,
        wc_aes = w.callback_aes_key,
    );
    let path = dir.join("hrhub.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Sends a delivery built by a mock (query, body) to a webhook URL.
pub async fn post_delivery(
    client: &reqwest::Client,
    url: &str,
    request: &PushRequest,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(url)
        .query(&request.query.iter().collect::<Vec<_>>())
        .body(request.body.clone())
        .send()
        .await
}

/// Raw `events` records a connector holds.
pub async fn events_held(store: &dyn Store, connector: &str) -> i64 {
    store.holdings(connector, "events").await.unwrap().records
}

/// Every landed raw record of a connector's stream, oldest first.
pub async fn all_raw(
    store: &dyn Store,
    connector: &str,
    stream: &str,
) -> Vec<hrhub_model::RawRecord> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .raw_records(connector, stream, after, 1_000)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        after = *last;
        out.extend(page.into_iter().map(|(_, r)| r));
    }
    out
}
