//! The mock's own behaviour, checked with a plain HTTP client: it must be
//! as strict as DingTalk, or it hides connector bugs.

use chrono::Duration as Days;
use hrhub_dingtalk::mock::Throttle;
use hrhub_dingtalk::{MockDingTalk, MockHandle, MockOptions};
use serde_json::{json, Value};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(mock: &MockHandle) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: mock.base_url(),
        }
    }

    async fn old_token(&self, mock: &MockHandle) -> Value {
        let o = mock.options();
        self.http
            .get(format!("{}/gettoken", self.base))
            .query(&[("appkey", o.app_key), ("appsecret", o.app_secret)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn new_token(&self, key: &str, secret: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1.0/oauth2/accessToken", self.base))
            .json(&json!({"appKey": key, "appSecret": secret}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .query(&[("access_token", token)])
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "oapi errors come on HTTP 200");
        r.json().await.unwrap()
    }
}

async fn start() -> (MockHandle, Client, String) {
    let mock = MockDingTalk::start(MockOptions {
        qps_limit: None,
        ..MockOptions::default()
    })
    .await;
    let client = Client::new(&mock);
    let token = client.old_token(&mock).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (mock, client, token)
}

#[tokio::test]
async fn tokens_renew_expire_and_stay_in_their_generation() {
    let (mock, c, token) = start().await;
    let again = c.old_token(&mock).await;
    assert_eq!(
        again["access_token"],
        token.as_str(),
        "same token within the lifetime"
    );
    assert_eq!(again["expires_in"], 7200);
    mock.advance(7_201);
    let body = c
        .post("/topapi/v2/department/get", &token, json!({"dept_id": 1}))
        .await;
    assert_eq!(body["errcode"], 88);
    assert_eq!(body["sub_code"], "42001");
    let body = c.post("/attendance/list", &token, json!({})).await;
    assert_eq!(body["errcode"], 42001);
    let fresh = c.old_token(&mock).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(fresh, token);

    // an old-generation token is not a v1.0 token
    let r = c
        .http
        .get(format!("{}/v1.0/contact/empLeaveRecords", c.base))
        .header("x-acs-dingtalk-access-token", &fresh)
        .query(&[("startTime", "2024-01-01T00:00:00Z"), ("maxResults", "10")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "InvalidAuthentication"
    );

    let o = mock.options();
    let (status, body) = c.new_token(&o.app_key, "wrong").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalidClientIdOrSecret"))
    );
    let (status, body) = c.new_token(&o.app_key, &o.app_secret).await;
    assert_eq!(status, 200);
    assert_eq!(body["expireIn"], 7200);
    let r = c
        .http
        .get(format!("{}/gettoken?appkey=x&appsecret=y", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errcode"], 40089);
    let body = c
        .post("/topapi/v2/department/get", "", json!({"dept_id": 1}))
        .await;
    assert_eq!(
        (body["errcode"].as_i64(), body["sub_code"].as_str()),
        (Some(88), Some("40000"))
    );
}

#[tokio::test]
async fn attendance_list_enforces_the_documented_limits() {
    let (mock, c, token) = start().await;
    let today = mock.today();
    let users = mock.user_ids();
    let call = |from: chrono::NaiveDate,
                to: chrono::NaiveDate,
                ids: &[String],
                offset: i64,
                limit: i64| {
        json!({"workDateFrom": format!("{from} 00:00:00"), "workDateTo": format!("{to} 00:00:00"),
               "userIdList": ids, "offset": offset, "limit": limit, "isI18n": false})
    };
    let to = today - Days::days(1);
    let from = to - Days::days(6);
    let body = c
        .post(
            "/attendance/list",
            &token,
            call(from - Days::days(1), to, &users[..5], 0, 50),
        )
        .await;
    assert_eq!(body["errcode"], 40035, "8 days: {body}");
    let body = c
        .post(
            "/attendance/list",
            &token,
            call(from, to, &users[..51], 0, 50),
        )
        .await;
    assert_eq!(body["errcode"], 40035, "51 users");
    let body = c
        .post(
            "/attendance/list",
            &token,
            call(from, to, &users[..5], 0, 51),
        )
        .await;
    assert_eq!(body["errcode"], 40035, "limit 51");

    let mut rows = Vec::new();
    let mut offset = 0;
    loop {
        let body = c
            .post(
                "/attendance/list",
                &token,
                call(from, to, &users[..10], offset, 50),
            )
            .await;
        assert_eq!(body["errcode"], 0);
        rows.extend(body["recordresult"].as_array().unwrap().clone());
        if body["hasMore"] != true {
            break;
        }
        offset += 50;
    }
    assert!(rows.len() > 50, "paged: {}", rows.len());
    // one row per scheduled point: 10 users × weekdays × 2 (pending ones not yet written)
    assert!(rows
        .iter()
        .any(|r| r["timeResult"] == "NotSigned" && r.get("recordId").is_none()));
    assert!(rows
        .iter()
        .all(|r| r["workDate"].is_i64() && r["checkType"].is_string()));
    let body = c
        .post("/attendance/list", &token, json!({"workDateFrom": format!("{from} 00:00:00"), "workDateTo": format!("{to} 00:00:00"), "userIdList": &users[..2], "offset": 0, "limit": 50, "isI18n": true}))
        .await;
    assert_eq!(
        body["recordresult"],
        json!([]),
        "isI18n=true: empty for mainland orgs"
    );
}

#[tokio::test]
async fn org_endpoints_list_direct_members_and_children_only() {
    let (mock, c, token) = start().await;
    let body = c
        .post(
            "/topapi/v2/department/listsub",
            &token,
            json!({"dept_id": 1}),
        )
        .await;
    let children: Vec<i64> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dept_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        children,
        [37_000_100, 37_000_200, 37_000_300, 37_000_400, 37_000_500]
    );
    let body = c
        .post(
            "/topapi/v2/department/listsub",
            &token,
            json!({"dept_id": 5}),
        )
        .await;
    assert_eq!(body["errcode"], 60003);

    let body = c
        .post(
            "/topapi/v2/user/list",
            &token,
            json!({"dept_id": 1, "cursor": 0, "size": 10}),
        )
        .await;
    let root: Vec<&str> = body["result"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userid"].as_str().unwrap())
        .collect();
    assert_eq!(root, ["01260001"], "only direct members");
    let body = c
        .post(
            "/topapi/v2/user/list",
            &token,
            json!({"dept_id": 37_000_101, "cursor": 0, "size": 101}),
        )
        .await;
    assert_eq!(body["errcode"], 40035);
    let body = c
        .post(
            "/topapi/v2/user/list",
            &token,
            json!({"dept_id": 37_000_101, "cursor": 0, "size": 3}),
        )
        .await;
    assert_eq!(body["result"]["has_more"], true);
    assert_eq!(body["result"]["next_cursor"], 3);

    let leaving = mock.user_ids()[3].clone();
    mock.remove_user(&leaving);
    let body = c
        .post("/topapi/v2/user/get", &token, json!({"userid": leaving}))
        .await;
    assert_eq!(body["errcode"], 60121);
    let body = c
        .post(
            "/topapi/user/listid",
            &token,
            json!({"dept_id": 37_000_103}),
        )
        .await;
    assert!(!body["result"]["userid_list"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn leave_records_page_with_next_token_and_check_max_results() {
    let mock = MockDingTalk::start(MockOptions {
        leavers: 7,
        qps_limit: None,
        ..MockOptions::default()
    })
    .await;
    let c = Client::new(&mock);
    let o = mock.options();
    let (_, body) = c.new_token(&o.app_key, &o.app_secret).await;
    let token = body["accessToken"].as_str().unwrap().to_string();
    let start = (chrono::Utc::now() - Days::days(60))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let get = |next: &str, max: &str| {
        c.http
            .get(format!("{}/v1.0/contact/empLeaveRecords", c.base))
            .header("x-acs-dingtalk-access-token", &token)
            .query(&[
                ("startTime", start.as_str()),
                ("nextToken", next),
                ("maxResults", max),
            ])
            .send()
    };
    assert_eq!(get("0", "51").await.unwrap().status(), 400);
    let first: Value = get("0", "5").await.unwrap().json().await.unwrap();
    assert_eq!(first["records"].as_array().unwrap().len(), 5);
    let next = first["nextToken"].as_str().unwrap().to_string();
    let second: Value = get(&next, "5").await.unwrap().json().await.unwrap();
    assert_eq!(second["records"].as_array().unwrap().len(), 2);
    assert!(second.get("nextToken").is_none());
    assert!(second["records"][0]["leaveTime"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}

#[tokio::test]
async fn throttling_answers_like_dingtalk() {
    let (mock, c, token) = start().await;
    mock.set_qps_limit(Some(2));
    let mut codes = Vec::new();
    for _ in 0..4 {
        let body = c
            .post("/topapi/v2/department/get", &token, json!({"dept_id": 1}))
            .await;
        codes.push(body["errcode"].as_i64().unwrap());
    }
    assert!(codes.contains(&90018), "{codes:?}");
    mock.set_qps_limit(None);
    mock.throttle_next(1, Throttle::IpBan { wait_minutes: 5 });
    let body = c
        .post("/topapi/v2/department/get", &token, json!({"dept_id": 1}))
        .await;
    assert_eq!(body["punish"], "deny");
    assert_eq!(body["wait"], 5);
    mock.throttle_next(1, Throttle::GlobalQps);
    let body = c
        .post("/topapi/v2/department/get", &token, json!({"dept_id": 1}))
        .await;
    assert_eq!(body["errcode"], 90002);
    let body = c
        .post("/topapi/v2/department/get", &token, json!({"dept_id": 1}))
        .await;
    assert_eq!(body["errcode"], 0);
}
