//! The mock LRS's own behaviour, checked with a plain HTTP client.

use base64::Engine;
use hrhub_xapi::{MockLrs, MockOptions};
use serde_json::Value;

fn basic(o: &MockOptions) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", o.username, o.password))
    )
}

#[tokio::test]
async fn statements_need_auth_and_the_version_header() {
    let mock = MockLrs::start(MockOptions {
        learners: 10,
        ..MockOptions::default()
    })
    .await;
    let o = mock.options();
    let http = reqwest::Client::new();
    let url = format!("{}statements", mock.endpoint());

    let r = http
        .get(&url)
        .header("X-Experience-API-Version", "1.0.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = http
        .get(&url)
        .header("Authorization", basic(&o))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no version header");
    assert!(r.text().await.unwrap().contains("X-Experience-API-Version"));
    let r = http
        .get(&url)
        .header("Authorization", basic(&o))
        .header("X-Experience-API-Version", "0.95")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = http
        .get(format!("{url}?limit=5&ascending=true"))
        .header("Authorization", basic(&o))
        .header("X-Experience-API-Version", "1.0.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .contains_key("x-experience-api-consistent-through"));
    assert_eq!(r.headers()["x-experience-api-version"], "1.0.3");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["statements"].as_array().unwrap().len(), 5);
    let more = body["more"].as_str().unwrap();
    assert!(
        more.starts_with("/xapi/statements?more="),
        "relative to the host: {more}"
    );

    // the about resource is open
    let about: Value = http
        .get(format!("{}about", mock.endpoint()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(about["version"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "1.0.3"));
}

#[tokio::test]
async fn since_is_exclusive_until_inclusive_and_voided_ones_hide() {
    let mock = MockLrs::start(MockOptions {
        learners: 20,
        ..MockOptions::default()
    })
    .await;
    let o = mock.options();
    let http = reqwest::Client::new();
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{}statements?{query}", mock.endpoint());
        let auth = basic(&o);
        async move {
            let r = http
                .get(url)
                .header("Authorization", auth)
                .header("X-Experience-API-Version", "1.0.3")
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (_, page) = get("ascending=true&limit=3".into()).await;
    let list = page["statements"].as_array().unwrap();
    let (a, c) = (
        list[0]["stored"].as_str().unwrap(),
        list[2]["stored"].as_str().unwrap(),
    );
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let (_, between) = get(format!("ascending=true&since={}&until={}", enc(a), enc(c))).await;
    let got: Vec<&Value> = between["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(got, vec![&list[1]["id"], &list[2]["id"]]);

    let voided = mock.voided_ids();
    assert!(!voided.is_empty());
    let (_, all) = get("limit=0".into()).await;
    let mut seen = Vec::new();
    let mut page = all;
    loop {
        seen.extend(
            page["statements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string()),
        );
        let more = page["more"].as_str().unwrap().to_string();
        if more.is_empty() {
            break;
        }
        let token = more.split("more=").nth(1).unwrap().to_string();
        page = get(format!("more={token}")).await.1;
    }
    assert_eq!(seen.len(), mock.visible_count());
    assert!(voided.iter().all(|v| !seen.contains(v)));
    let (status, one) = get(format!("voidedStatementId={}", voided[0])).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], voided[0].as_str());
    let (status, _) = get(format!("statementId={}", voided[0])).await;
    assert_eq!(status, 404);
    let (status, _) = get("sinse=2024-01-01T00:00:00Z".into()).await;
    assert_eq!(status, 400, "unknown parameters are refused");
    mock.expire_more_links();
    let (_, first) = get("limit=2".into()).await;
    let token = first["more"]
        .as_str()
        .unwrap()
        .split("more=")
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(get(format!("more={token}")).await.0, 200);
    mock.expire_more_links();
    assert_eq!(get(format!("more={token}")).await.0, 400);
}
