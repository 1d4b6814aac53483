//! The `/api/v1` HTTP API through the real `hrhub serve`: tokens and roles on
//! every route, paging without skips or repeats, filters, the change feed
//! and admin operations.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

/// Every secured operation of the served OpenAPI document, as
/// (method, path with example ids, tag). The document and the router come
/// from the same registrations, so this is every API route.
async fn secured_operations(base: &str) -> Vec<(String, String, String)> {
    let doc: Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["security"].is_null() {
                continue;
            }
            let concrete = path.replace("{id}", "1").replace("{connector_id}", "zd");
            let query = if path.contains("performance") || path.contains("probation") {
                "?from=2024-01-01&to=2024-02-01"
            } else if path.contains("replay") {
                "?connector=zd"
            } else {
                ""
            };
            let tag = op["tags"][0].as_str().unwrap().to_string();
            out.push((method.to_uppercase(), format!("{concrete}{query}"), tag));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_enforces_roles_pages_filters_and_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(240).await;
    let port = free_port();
    let config = write_config(dir.path(), &mock, "schedule = \"0 3 * * *\"");
    listen_on(&config, port);
    assert!(hrhub(&config, &["sync"]).await.status.success());
    // a second connector, switched off: shown as disabled, never synced
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[connector]]\nid = \"zd-old\"\nkind = \"zendesk\"\nenabled = false\nschedule = \"* * * * *\"\nbase_url = \"{}\"\n[connector.auth]\ntype = \"api_token\"\nemail = \"a@b.example\"\ntoken = \"t\"\n",
        mock.base_url()
    ));
    std::fs::write(&config, text).unwrap();
    let reader = create_token(&config, "reader", "hr-system").await;
    let admin = create_token(&config, "admin", "ops").await;
    let revoked = create_token(&config, "reader", "old").await;
    assert!(hrhub(&config, &["token", "revoke", "old"])
        .await
        .status
        .success());
    let list = stdout(&hrhub(&config, &["token", "list"]).await);
    assert!(
        list.contains("hr-system") && !list.contains(&reader),
        "tokens are never shown again"
    );

    let server = serve(&config, port).await;
    let base = server.url.clone();
    let client = reqwest::Client::new();
    // dashboard sessions: one live, one whose token is then revoked
    let login = |token: String| {
        let request = client
            .post(format!("{base}/api/v1/session"))
            .json(&serde_json::json!({ "token": token }));
        async move {
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), 200);
            let set = res.headers()["set-cookie"].to_str().unwrap();
            set.split(';').next().unwrap().to_string()
        }
    };
    let session = login(admin.clone()).await;
    let gone_admin = create_token(&config, "admin", "gone").await;
    let gone_session = login(gone_admin).await;
    assert!(hrhub(&config, &["token", "revoke", "gone"])
        .await
        .status
        .success());
    let get = |path: &str, token: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };

    let operations = secured_operations(&base).await;
    assert!(operations.len() >= 16, "{operations:?}");
    let call = |method: &str, route: &str, token: Option<&str>| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = client.request(method, format!("{base}{route}"));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    for (method, route, tag) in &operations {
        for (who, token) in [
            ("no token", None),
            ("forged", Some("hrh_forged")),
            ("revoked", Some(revoked.as_str())),
        ] {
            let res = call(method, route, token).await.unwrap();
            assert_eq!(res.status(), 401, "{method} {route}: {who}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
        }
        let as_reader = call(method, route, Some(&reader)).await.unwrap().status();
        match tag.as_str() {
            "admin" => assert_eq!(as_reader, 403, "{method} {route} as reader"),
            _ => assert!(
                as_reader.is_success(),
                "{method} {route} as reader: {as_reader}"
            ),
        }
        if method == "GET" {
            let as_admin = call(method, route, Some(&admin)).await.unwrap().status();
            assert!(
                as_admin.is_success(),
                "{method} {route} as admin: {as_admin}"
            );
        }
        let with_cookie = |cookie: &str| {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            client
                .request(method, format!("{base}{route}"))
                .header("cookie", cookie)
                .send()
        };
        let ended = with_cookie(&gone_session).await.unwrap().status();
        assert_eq!(ended, 401, "{method} {route}: session of a revoked token");
        let by_cookie = with_cookie(&session).await.unwrap().status();
        match (tag.as_str(), method.as_str()) {
            ("admin", "GET") => assert!(by_cookie.is_success(), "{method} {route}: {by_cookie}"),
            // changes by cookie need X-Requested-With (CSRF)
            ("admin", _) => assert_eq!(by_cookie, 403, "{method} {route} by cookie"),
            _ => assert_eq!(
                by_cookie, 401,
                "{method} {route}: the HR API is bearer-only"
            ),
        }
    }

    // paging: every ticket exactly once
    let mut seen = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let page: Value = get(
            &format!("/api/v1/tickets?limit=7&cursor={cursor}"),
            Some(&reader),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        for row in page["data"].as_array().unwrap() {
            assert!(
                seen.insert(row["ticket_id"].as_str().unwrap().to_string()),
                "repeated {row}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 240);

    // one employee, with links, and only their tickets in a period
    let employees: Value = get("/api/v1/employees?limit=100", Some(&reader))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agent = employees["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["employee_no"].is_string())
        .unwrap()
        .clone();
    let id = agent["id"].as_i64().unwrap();
    let detail: Value = get(&format!("/api/v1/employees/{id}"), Some(&reader))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["identity_links"][0]["system"], "zd");
    let theirs: Value = get(
        &format!("/api/v1/tickets?employee_id={id}&from=2000-01-01&to=2100-01-01&limit=1000"),
        Some(&reader),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let theirs = theirs["data"].as_array().unwrap();
    assert!(!theirs.is_empty());
    assert!(theirs.iter().all(|t| t["employee_id"] == id));
    let none: Value = get(
        &format!("/api/v1/tickets?employee_id={id}&from=2000-01-01&to=2000-02-01"),
        Some(&reader),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(none["data"].as_array().unwrap().is_empty());

    // the change feed, followed to the end, is gap-free
    let mut after = 0;
    loop {
        let page: Value = get(
            &format!("/api/v1/changes?after={after}&limit=100"),
            Some(&reader),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let data = page["data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        for c in data {
            assert_eq!(c["seq"], after + 1);
            after += 1;
        }
        assert_eq!(page["next_after"], after);
    }
    assert!(after > 240);

    // bad input gets a problem, not a guess
    // an oversized body on an API route: 413 as a problem, before any
    // parsing (its own client: the server drops that connection mid-upload)
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/session"))
        .header("content-type", "application/json")
        .body(format!("{{\"token\": \"{}\"}}", "x".repeat(3 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], 413);
    let clamped = get("/api/v1/tickets?limit=5000", Some(&reader))
        .await
        .unwrap();
    assert_eq!(clamped.status(), 200, "an oversized limit is clamped");
    for bad in [
        "/api/v1/tickets?limit=0",
        "/api/v1/tickets?cursor=abc",
        "/api/v1/tickets?colour=red",
        "/api/v1/employees?from=2024-01-01",
    ] {
        let res = get(bad, Some(&reader)).await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["status"], 400);
    }

    // admin: trigger a sync and see it in the run history
    let before = get(
        "/api/v1/sync/runs?connector=zd&stream=tickets",
        Some(&admin),
    )
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap()["data"]
        .as_array()
        .unwrap()
        .len();
    let res = client
        .post(format!("{base}/api/v1/sync/zd?stream=tickets"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let mut grew = false;
    for _ in 0..50 {
        let runs: Value = get(
            "/api/v1/sync/runs?connector=zd&stream=tickets",
            Some(&admin),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if runs["data"].as_array().unwrap().len() > before
            && runs["data"][0]["status"] == "succeeded"
        {
            grew = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(grew, "the triggered run never finished");
    let status: Value = get("/api/v1/sync/status", Some(&admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let streams = status["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 8);
    for s in streams.iter().filter(|s| s["connector"] == "zd") {
        let next = s["next_scheduled"].as_str().expect("next scheduled run");
        assert!(next.contains("T03:00:00"), "{next}");
    }
    for s in streams.iter().filter(|s| s["connector"] == "zd-old") {
        assert_eq!(s["status"], "disabled", "{s}");
        assert!(
            s["last_run"].is_null() && s["next_scheduled"].is_null(),
            "{s}"
        );
    }
    let tickets = streams.iter().find(|s| s["stream"] == "tickets").unwrap();
    assert!(tickets["newest_source_at"].is_string());
    assert!(tickets["lag_seconds"].as_i64().unwrap() >= 0);

    // metrics: run totals from the store, latencies by route template
    let metrics = get("/metrics", None).await.unwrap().text().await.unwrap();
    let line = |prefix: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{metrics}"))
            .to_string()
    };
    let value = |l: String| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
    assert_eq!(
        value(line(
            "hrhub_sync_runs_total{connector=\"zd\",stream=\"tickets\",status=\"succeeded\"}"
        )),
        2.0
    );
    assert_eq!(
        value(line(
            "hrhub_sync_records_total{connector=\"zd\",stream=\"tickets\",outcome=\"fetched\"}"
        )),
        240.0
    );
    line("hrhub_stream_last_run_duration_seconds{connector=\"zd\",stream=\"tickets\"}");
    assert!(
        value(line("hrhub_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/employees/{id}\",status=\"200\"}")) >= 1.0,
        "one series per route template, not per concrete path"
    );
    assert!(!metrics.contains("route=\"/api/v1/employees/1\""));
    line("hrhub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/tickets\",status=\"400\",le=\"+Inf\"}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn performance_and_probation_report_with_configured_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(400).await;
    let port = free_port();
    // a user mapping override puts every agent on probation until 2099
    let mappings = dir.path().join("my-mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/mappings/zendesk/users.toml"
    ))
    .unwrap();
    std::fs::write(
        mappings.join("users.toml"),
        format!("{shipped}probation_end = '\"2099-12-31\"'\n"),
    )
    .unwrap();
    let config = write_config(dir.path(), &mock, "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "[mappings]\ndir = \"my-mappings\"\n[reports.probation]\nsatisfaction = 3.0\n{text}"
        ),
    )
    .unwrap();
    listen_on(&config, port);
    assert!(hrhub(&config, &["sync"]).await.status.success());
    let reader = create_token(&config, "reader", "hr").await;
    let server = serve(&config, port).await;
    let base = server.url.clone();
    let client = reqwest::Client::new();
    let get = |path: String| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(&reader)
            .send()
    };

    let report: Value = get("/api/v1/reports/probation?from=2000-01-01&to=2100-01-01".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        report["thresholds"]["satisfaction"], 3.0,
        "configured threshold"
    );
    assert_eq!(
        report["thresholds"]["resolution_rate"], 0.85,
        "default threshold"
    );
    let rows = report["data"].as_array().unwrap();
    assert_eq!(rows.len(), 21, "every agent is on probation");
    let mut with_tickets = 0;
    for row in rows {
        for (name, indicator) in row["indicators"].as_object().unwrap() {
            let expected = match indicator["value"].as_f64() {
                None => "no_data",
                Some(v) if v >= indicator["threshold"].as_f64().unwrap() => "pass",
                Some(_) => "fail",
            };
            assert_eq!(indicator["status"], expected, "{name}: {indicator}");
            let flagged = row["flagged"].as_array().unwrap().iter().any(|f| f == name);
            assert_eq!(flagged, expected == "fail");
        }
        let id = row["employee"]["id"].as_i64().unwrap();
        let tickets = row["performance"]["helpdesk"]["tickets"].as_i64().unwrap();
        if tickets > 0 {
            with_tickets += 1;
            // the figure links to exactly the records it was computed from
            let link = row["records"]["helpdesk"].as_str().unwrap();
            let listed: Value = get(format!("{link}&limit=1000"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(listed["data"].as_array().unwrap().len() as i64, tickets);
            let solved = listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["status"] == "solved" || t["status"] == "closed")
                .count() as f64;
            assert_eq!(
                row["indicators"]["resolution_rate"]["value"]
                    .as_f64()
                    .unwrap(),
                solved / tickets as f64
            );
            let single: Value = get(format!(
                "/api/v1/employees/{id}/performance?from=2000-01-01&to=2100-01-01"
            ))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
            assert_eq!(single["helpdesk"], row["performance"]["helpdesk"]);
        }
    }
    assert!(with_tickets > 10);
    let res = get("/api/v1/reports/probation?from=2024-02-01&to=2024-01-01".into())
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = get("/api/v1/employees/1/performance".into()).await.unwrap();
    assert_eq!(res.status(), 400);
}

/// The HR system follows the change feed with a reader token while the
/// scheduler keeps syncing new and changed tickets: every entry arrives
/// once, in sequence, with none skipped, and the feed ends up naming every
/// ticket the store holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_has_no_gaps_or_repeats_while_syncs_write() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(200).await;
    let port = free_port();
    // every second, 6-field cron
    let config = write_config(dir.path(), &mock, "schedule = \"* * * * * *\"");
    listen_on(&config, port);
    let reader = create_token(&config, "reader", "hr-system").await;
    let server = serve(&config, port).await;
    let client = reqwest::Client::new();
    let page = |after: i64| {
        let request = client
            .get(format!(
                "{}/api/v1/changes?after={after}&limit=37",
                server.url
            ))
            .bearer_auth(&reader);
        async move {
            let page: Value = request.send().await.unwrap().json().await.unwrap();
            page["data"].as_array().unwrap().clone()
        }
    };
    let mut after = 0;
    let mut tickets_seen = std::collections::HashSet::new();
    let mut follow = |data: Vec<Value>, after: &mut i64| {
        for c in data {
            assert_eq!(c["seq"], *after + 1, "gap or repeat after {after}: {c}");
            *after += 1;
            if c["entity"] == "ticket_activity" {
                tickets_seen.insert(c["entity_id"].as_i64().unwrap());
            }
        }
    };
    // upstream keeps changing while the feed is read
    for _ in 0..12 {
        mock.add_tickets(15);
        mock.touch_tickets(15);
        mock.advance(120); // past the export's one-minute delay
        for _ in 0..3 {
            follow(page(after).await, &mut after);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    // let the scheduler catch up, then read to the end
    let mut quiet_rounds = 0;
    while quiet_rounds < 4 {
        let data = page(after).await;
        if data.is_empty() {
            quiet_rounds += 1;
            tokio::time::sleep(Duration::from_millis(800)).await;
        } else {
            quiet_rounds = 0;
            follow(data, &mut after);
        }
    }
    drop(server);
    let store = open_store(dir.path()).await;
    assert_eq!(
        after,
        change_log_len(&store).await,
        "the feed is the whole change log"
    );
    let (tickets, _) =
        hrhub_store::Store::entity_counts(&store, hrhub_model::EntityKind::TicketActivity)
            .await
            .unwrap();
    assert_eq!(tickets, 200 + 12 * 15);
    assert_eq!(
        tickets_seen.len() as i64,
        tickets,
        "every ticket appears in the feed"
    );
}
