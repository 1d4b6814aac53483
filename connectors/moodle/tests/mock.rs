//! The mock's own behaviour, checked with a plain HTTP client: Moodle's
//! REST conventions, not the connector's.

use hrhub_moodle::{MockMoodle, MockOptions, MoodleRelease};
use serde_json::Value;

async fn post(base: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/webservice/rest/server.php"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn errors_are_http_200_envelopes() {
    let mock = MockMoodle::start(MockOptions {
        learners: 5,
        ..MockOptions::default()
    })
    .await;
    let base = mock.base_url();
    let token = mock.token();
    let call = |function: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let mut form = vec![
            ("wstoken", token.clone()),
            ("wsfunction", function.to_string()),
            ("moodlewsrestformat", "json".to_string()),
        ];
        form.extend(extra.into_iter().map(|(k, v)| (k, v.to_string())));
        form
    };
    let send = |form: Vec<(&'static str, String)>| {
        let base = base.clone();
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&base, &pairs).await
        }
    };

    let (status, body) = send(vec![
        ("wstoken", "nope".into()),
        ("wsfunction", "core_user_get_users".into()),
        ("moodlewsrestformat", "json".into()),
    ])
    .await;
    assert_eq!(status, 200);
    let e = json(&body);
    assert_eq!(e["exception"], "moodle_exception");
    assert_eq!(e["errorcode"], "invalidtoken");

    // arrays must be PHP arrays
    let (_, body) = send(call(
        "mod_quiz_get_quizzes_by_courses",
        vec![("courseids", "2,3")],
    ))
    .await;
    let e = json(&body);
    assert_eq!(e["errorcode"], "invalidparameter");
    assert!(
        e["debuginfo"]
            .as_str()
            .unwrap()
            .contains("Only arrays accepted"),
        "{e}"
    );
    let (_, body) = send(call(
        "mod_quiz_get_quizzes_by_courses",
        vec![("courseids[0]", "2"), ("courseids[1]", "5")],
    ))
    .await;
    let quizzes = json(&body)["quizzes"].as_array().unwrap().len();
    assert_eq!(quizzes, 2);

    let (_, body) = send(call("core_enrol_get_users_courses", vec![])).await;
    assert!(json(&body)["debuginfo"]
        .as_str()
        .unwrap()
        .contains("Missing required key in single structure: userid"));
    let (_, body) = send(call(
        "core_enrol_get_users_courses",
        vec![("userid", "10"), ("extra", "1")],
    ))
    .await;
    assert!(json(&body)["debuginfo"]
        .as_str()
        .unwrap()
        .contains("Unexpected keys (extra)"));

    let (_, body) = send(call("core_no_such_function", vec![])).await;
    assert_eq!(json(&body)["errorcode"], "invalidrecord");
    mock.remove_function("core_course_get_courses");
    let (_, body) = send(call("core_course_get_courses", vec![])).await;
    let e = json(&body);
    assert_eq!(e["exception"], "webservice_access_exception");
    assert_eq!(e["errorcode"], "accessexception");

    let (_, body) = send(call(
        "core_completion_get_course_completion_status",
        vec![("courseid", "5"), ("userid", "10")],
    ))
    .await;
    let code = json(&body)["errorcode"].as_str().unwrap().to_string();
    assert!(
        code == "nocriteriaset" || code == "usernotenroled",
        "{code}"
    );

    let (_, body) = send(call(
        "core_user_get_users",
        vec![
            ("criteria[0][key]", "department"),
            ("criteria[0][value]", "x"),
        ],
    ))
    .await;
    assert_eq!(
        json(&body)["warnings"][0]["warningcode"],
        "invalidfieldparameter"
    );

    // the default format is XML
    let (status, body) = post(
        &base,
        &[
            ("wstoken", &token),
            ("wsfunction", "core_webservice_get_site_info"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.starts_with("<?xml"), "{body}");
}

#[tokio::test]
async fn get_works_too_and_the_release_decides_the_attempts_function() {
    for (release, has_new) in [(MoodleRelease::V4_5, false), (MoodleRelease::V5_0, true)] {
        let mock = MockMoodle::start(MockOptions {
            learners: 5,
            release,
            ..MockOptions::default()
        })
        .await;
        let url = format!(
            "{}/webservice/rest/server.php?wstoken={}&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json",
            mock.base_url(),
            mock.token()
        );
        let info: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        assert_eq!(info["version"], release.version().to_string());
        let names: Vec<&str> = info["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.contains(&"mod_quiz_get_user_quiz_attempts"), has_new);
        assert!(names.contains(&"mod_quiz_get_user_attempts"));
        assert!(mock.calls()[0].token_in_query);
    }
}
