//! The mock speaks WeCom: envelopes, tokens, limits, the 2022 rules.

use hrhub_wecom::{MockHandle, MockOptions, MockWeCom};
use serde_json::{json, Value};

async fn get(mock: &MockHandle, path_and_query: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{}{path_and_query}", mock.base_url()))
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn post(mock: &MockHandle, path_and_query: &str, body: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}{path_and_query}", mock.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn token(mock: &MockHandle, contacts: bool) -> String {
    let o = mock.options();
    let secret = if contacts {
        o.contacts_secret
    } else {
        o.app_secret
    };
    let (_, v) = get(
        mock,
        &format!("/cgi-bin/gettoken?corpid={}&corpsecret={secret}", o.corp_id),
    )
    .await;
    assert_eq!(v["errcode"], 0, "{v}");
    assert_eq!(v["errmsg"], "ok");
    v["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn tokens_and_envelopes() {
    let mock = MockWeCom::start(MockOptions::default()).await;
    let o = mock.options();
    let a = token(&mock, false).await;
    assert_eq!(
        a,
        token(&mock, false).await,
        "same token within its lifetime"
    );
    assert_ne!(a, token(&mock, true).await, "one token per secret");

    let (status, v) = get(
        &mock,
        &format!("/cgi-bin/gettoken?corpid={}&corpsecret=nope", o.corp_id),
    )
    .await;
    assert_eq!(status, 200, "errors are HTTP 200 too");
    assert_eq!(v["errcode"], 40001);
    assert!(v["errmsg"].as_str().unwrap().contains("hint: ["), "{v}");
    let (_, v) = get(&mock, "/cgi-bin/gettoken?corpid=wwx&corpsecret=x").await;
    assert_eq!(v["errcode"], 40013);
    let (_, v) = get(&mock, "/cgi-bin/department/simplelist").await;
    assert_eq!(v["errcode"], 41001);
    let (_, v) = get(&mock, "/cgi-bin/department/simplelist?access_token=bogus").await;
    assert_eq!(v["errcode"], 40014);
    mock.expire_tokens();
    let (_, v) = get(
        &mock,
        &format!("/cgi-bin/department/simplelist?access_token={a}"),
    )
    .await;
    assert_eq!(v["errcode"], 42001);
    let fresh = token(&mock, false).await;
    assert_ne!(fresh, a);
    let v = post(
        &mock,
        &format!("/cgi-bin/checkin/getcheckindata?access_token={fresh}"),
        "{not json",
    )
    .await;
    assert_eq!(v["errcode"], 47001);
    assert!(v["errmsg"]
        .as_str()
        .unwrap()
        .contains("Warning: wrong json format."));
}

#[tokio::test]
async fn list_id_pages_and_is_contacts_only() {
    let mock = MockWeCom::start(MockOptions {
        users: 30,
        ..MockOptions::default()
    })
    .await;
    let app = token(&mock, false).await;
    let contacts = token(&mock, true).await;
    let v = post(
        &mock,
        &format!("/cgi-bin/user/list_id?access_token={app}"),
        "{}",
    )
    .await;
    assert_eq!(v["errcode"], 48002);
    let mut cursor = String::new();
    let mut rows = 0;
    let mut pages = 0;
    loop {
        let body = if cursor.is_empty() {
            json!({"limit": 10})
        } else {
            json!({"limit": 10, "cursor": cursor})
        };
        let v = post(
            &mock,
            &format!("/cgi-bin/user/list_id?access_token={contacts}"),
            &body.to_string(),
        )
        .await;
        assert_eq!(v["errcode"], 0, "{v}");
        rows += v["dept_user"].as_array().unwrap().len();
        pages += 1;
        cursor = v["next_cursor"].as_str().unwrap().to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 4);
    assert!(
        rows > 30,
        "members in two departments have two rows: {rows}"
    );
    let v = post(
        &mock,
        &format!("/cgi-bin/user/list_id?access_token={contacts}"),
        r#"{"limit": 10001}"#,
    )
    .await;
    assert_eq!(v["errcode"], 40035);

    // Legacy lists refused (post-2022 IP), unknown users 60111.
    let (_, v) = get(
        &mock,
        &format!("/cgi-bin/user/list?access_token={contacts}&department_id=3"),
    )
    .await;
    assert_eq!(v["errcode"], 48002);
    let (_, v) = get(
        &mock,
        &format!("/cgi-bin/department/list?access_token={contacts}"),
    )
    .await;
    assert_eq!(v["errcode"], 48002);
    let (_, v) = get(
        &mock,
        &format!("/cgi-bin/user/get?access_token={contacts}&userid=nobody"),
    )
    .await;
    assert_eq!(v["errcode"], 60111);
    // Sensitive fields: contacts secret yes, app secret no.
    let (_, v) = get(
        &mock,
        &format!("/cgi-bin/user/get?access_token={contacts}&userid=zhangwei001"),
    )
    .await;
    assert_eq!(v["email"], "zhangwei001@example.com");
    let (_, v) = get(
        &mock,
        &format!("/cgi-bin/user/get?access_token={app}&userid=zhangwei001"),
    )
    .await;
    assert!(v.get("email").is_none() && v.get("mobile").is_none(), "{v}");
    assert_eq!(v["extattr"]["attrs"][0]["name"], "工号");
}

#[tokio::test]
async fn checkin_limits_are_enforced() {
    let mock = MockWeCom::start(MockOptions {
        users: 150,
        ..MockOptions::default()
    })
    .await;
    let app = token(&mock, false).await;
    let url = format!("/cgi-bin/checkin/getcheckindata?access_token={app}");
    let now = chrono::Utc::now().timestamp();
    let ids = mock.userids();
    let v = post(&mock, &url, &json!({"opencheckindatatype": 3, "starttime": now - 31 * 86_400, "endtime": now, "useridlist": [ids[0]]}).to_string()).await;
    assert_eq!(v["errcode"], 40035, "span over 30 days");
    let v = post(&mock, &url, &json!({"opencheckindatatype": 3, "starttime": now - 86_400, "endtime": now, "useridlist": ids}).to_string()).await;
    assert_eq!(v["errcode"], 40032, "over 100 users");
    let v = post(&mock, &url, &json!({"opencheckindatatype": 3, "starttime": now - 10 * 86_400, "endtime": now, "useridlist": &ids[..100]}).to_string()).await;
    assert_eq!(v["errcode"], 0);
    assert!(v["checkindata"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["checkin_time"].as_i64().unwrap() <= now));
    // outings only
    let v = post(&mock, &url, &json!({"opencheckindatatype": 2, "starttime": now - 20 * 86_400, "endtime": now, "useridlist": &ids[..100]}).to_string()).await;
    assert!(v["checkindata"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["checkin_type"] == "外出打卡"));

    // Per-minute cap → 45009.
    mock.set_checkin_rate_limit(Some(1));
    let body = json!({"opencheckindatatype": 3, "starttime": now - 86_400, "endtime": now, "useridlist": [ids[0]]}).to_string();
    let first = post(&mock, &url, &body).await;
    let second = post(&mock, &url, &body).await;
    assert!(first["errcode"] == 0 || first["errcode"] == 45009);
    assert_eq!(second["errcode"], 45009);

    // Daily reports need 0点 bounds.
    let day = format!("/cgi-bin/checkin/getcheckin_daydata?access_token={app}");
    let v = post(
        &mock,
        &day,
        &json!({"starttime": now - 86_400, "endtime": now, "useridlist": [ids[0]]}).to_string(),
    )
    .await;
    assert_eq!(v["errcode"], 40035);
}
