//! Moodle web-service calls: one POST per function to
//! `/webservice/rest/server.php`, parameters form-encoded the way Moodle
//! reads them (`userids[0]=…`, `criteria[0][key]=…`), and the HTTP-200
//! error envelope turned into errors.

use crate::config::MoodleConfig;
use hrhub_connector::retry::{retry, RetryPolicy};
use hrhub_connector::{ConnectorError, HttpClient, HttpConfig};
use serde_json::Value;
use std::fmt;
use url::Url;

/// Form parameters in Moodle's PHP-style encoding: lists as `key[i]`,
/// structures as `key[i][field]`, booleans as `1`/`0`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// `key=value`.
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    /// `key=1` / `key=0`.
    pub fn flag(self, key: &str, value: bool) -> Self {
        self.set(key, if value { "1" } else { "0" })
    }

    /// `key[0]=a&key[1]=b`.
    pub fn list<T: ToString>(mut self, key: &str, values: impl IntoIterator<Item = T>) -> Self {
        for (i, v) in values.into_iter().enumerate() {
            self.0.push((format!("{key}[{i}]"), v.to_string()));
        }
        self
    }

    /// `key[0][field]=v&…`, one structure per item.
    pub fn structs<'a>(
        mut self,
        key: &str,
        items: impl IntoIterator<Item = &'a [(&'a str, String)]>,
    ) -> Self {
        for (i, item) in items.into_iter().enumerate() {
            for (field, v) in item {
                self.0.push((format!("{key}[{i}][{field}]"), v.clone()));
            }
        }
        self
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// A Moodle exception as the REST server returns it, with HTTP 200:
/// `{"exception": "...", "errorcode": "...", "message": "...", "debuginfo"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoodleException {
    /// The PHP class (`moodle_exception`, `invalid_parameter_exception`, ...).
    pub exception: String,
    /// What to decide on (the message is localised).
    pub errorcode: String,
    pub message: String,
    /// Only with developer debugging on; names the bad parameter.
    pub debuginfo: Option<String>,
}

impl MoodleException {
    /// The envelope, when `body` is one. A successful result is an array or
    /// an object without `exception`/`errorcode`.
    pub fn from_body(body: &Value) -> Option<MoodleException> {
        let obj = body.as_object()?;
        let errorcode = obj.get("errorcode")?.as_str()?;
        // `login/token.php` errors carry `error` instead of `exception`.
        let exception = obj
            .get("exception")
            .and_then(Value::as_str)
            .or_else(|| obj.get("error").map(|_| "token_error"))?;
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        Some(MoodleException {
            exception: exception.to_string(),
            errorcode: errorcode.to_string(),
            message: text("message")
                .or_else(|| text("error"))
                .unwrap_or_default(),
            debuginfo: text("debuginfo").filter(|d| !d.is_empty()),
        })
    }

    /// Site busy or in maintenance, database hiccups: may pass.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.errorcode.as_str(),
            "sitemaintenance" | "dmlreadexception" | "dmlwriteexception" | "dbconnectionfailed"
        )
    }

    /// The error the connector reports for an exception nobody handled.
    pub fn into_error(self, function: &str) -> ConnectorError {
        match self.errorcode.as_str() {
            "invalidtoken" => ConnectorError::Auth(format!(
                "Moodle refused the web-service token ({}); the token may have been deleted, have \
                 passed its valid-until date or be restricted to other IP addresses: create a new \
                 one under Site administration → Server → Web services → Manage tokens and set `token`",
                self.message
            )),
            "accessexception" => ConnectorError::Forbidden(format!(
                "Moodle refused {function} ({}{}): add the function to the hub's external service \
                 (Site administration → Server → Web services → External services → Functions) and \
                 check that the service user is not suspended and the token's IP restriction \
                 allows the hub",
                self.message,
                self.debug_suffix()
            )),
            "nopermissions" => ConnectorError::Forbidden(format!(
                "the service user lacks a capability for {function} ({}{}); give its role the \
                 capabilities listed in the connector docs",
                self.message,
                self.debug_suffix()
            )),
            "servicenotavailable" | "enablewsdescription" | "webservicesnotenabled" => {
                ConnectorError::Forbidden(format!(
                    "Moodle's web services are not available ({}): enable web services and the \
                     REST protocol, and the hub's external service",
                    self.message
                ))
            }
            _ => ConnectorError::protocol(
                "moodle",
                format!("{function} failed: {self}"),
            ),
        }
    }

    fn debug_suffix(&self) -> String {
        self.debuginfo
            .as_deref()
            .map(|d| format!("; {d}"))
            .unwrap_or_default()
    }
}

impl fmt::Display for MoodleException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}{}",
            self.exception,
            self.errorcode,
            self.message,
            self.debug_suffix()
        )
    }
}

/// One Moodle site's REST endpoint with the hub's budget and retry policy.
#[derive(Debug)]
pub(crate) struct MoodleClient {
    endpoint: Url,
    token: String,
    http: HttpClient,
    retry: RetryPolicy,
}

impl MoodleClient {
    pub(crate) fn new(config: &MoodleConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        config.validate()?;
        let endpoint = config.endpoint()?;
        http.url_policy
            .check_configured("moodle", "base_url", &endpoint)?;
        let retry = http.retry.clone();
        let http = HttpClient::new(
            "moodle",
            HttpConfig {
                requests_per_minute: config.requests_per_minute(),
                ..http
            },
        )?;
        Ok(MoodleClient {
            endpoint,
            token: config.token.trim().to_string(),
            http,
            retry,
        })
    }

    pub(crate) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Calls `function`. Transient failures (5xx, timeouts, 429 from a
    /// proxy, maintenance mode) are retried; any other Moodle exception is
    /// returned as the inner error so the caller can decide on its
    /// `errorcode`.
    pub(crate) async fn call_raw(
        &self,
        function: &str,
        params: &Params,
    ) -> Result<Result<Value, MoodleException>, ConnectorError> {
        // The function in the URL (for access logs), the token in the body
        // (never in a URL, where proxies and error messages would show it).
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("wsfunction", function)
            .append_pair("moodlewsrestformat", "json");
        let mut form: Vec<(&str, &str)> = Vec::with_capacity(params.0.len() + 3);
        form.push(("wstoken", &self.token));
        form.push(("wsfunction", function));
        form.push(("moodlewsrestformat", "json"));
        form.extend(params.0.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        retry(&self.retry, || async {
            let body = self.http.json(|c| c.post(url.clone()).form(&form)).await?;
            match MoodleException::from_body(&body) {
                None => Ok(Ok(body)),
                Some(e) if e.is_transient() => {
                    Err(ConnectorError::Transient(format!("moodle {function}: {e}")))
                }
                Some(e) => Ok(Err(e)),
            }
        })
        .await
    }

    /// Calls `function`; every Moodle exception is an error.
    pub(crate) async fn call(
        &self,
        function: &str,
        params: &Params,
    ) -> Result<Value, ConnectorError> {
        self.call_raw(function, params)
            .await?
            .map_err(|e| e.into_error(function))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_use_moodle_array_encoding() {
        let p = Params::new()
            .set("courseid", 12)
            .flag("returnusercount", false)
            .list("userids", [3, 5])
            .structs(
                "criteria",
                [&[("key", "email".to_string()), ("value", "%".to_string())][..]],
            );
        let pairs: Vec<(&str, &str)> = p
            .pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("courseid", "12"),
                ("returnusercount", "0"),
                ("userids[0]", "3"),
                ("userids[1]", "5"),
                ("criteria[0][key]", "email"),
                ("criteria[0][value]", "%"),
            ]
        );
    }

    #[test]
    fn recognises_the_error_envelope() {
        let e = MoodleException::from_body(&json!({"exception": "moodle_exception",
            "errorcode": "invalidtoken", "message": "Ungültiges Token"}))
        .unwrap();
        assert_eq!(e.errorcode, "invalidtoken");
        assert!(matches!(e.into_error("f"), ConnectorError::Auth(_)));
        let e = MoodleException::from_body(&json!({"exception": "webservice_access_exception",
            "errorcode": "accessexception", "message": "Access control exception",
            "debuginfo": "Access to the function x() is not allowed."}))
        .unwrap();
        match e.into_error("x") {
            ConnectorError::Forbidden(m) => assert!(m.contains("is not allowed"), "{m}"),
            other => panic!("{other}"),
        }
        let e = MoodleException::from_body(
            &json!({"error": "Invalid login", "errorcode": "invalidlogin",
            "stacktrace": null, "debuginfo": null, "reproductionlink": null}),
        )
        .unwrap();
        assert_eq!(e.message, "Invalid login");
        assert!(
            MoodleException::from_body(&json!({"exception": "moodle_exception",
            "errorcode": "sitemaintenance", "message": "Site is under maintenance"}))
            .unwrap()
            .is_transient()
        );
        // results are never envelopes
        assert!(MoodleException::from_body(&json!([{"id": 1}])).is_none());
        assert!(MoodleException::from_body(&json!({"users": [], "warnings": []})).is_none());
        let e = MoodleException::from_body(&json!({"exception": "invalid_parameter_exception",
            "errorcode": "invalidparameter", "message": "Invalid parameter value detected"}))
        .unwrap();
        assert!(matches!(e.into_error("f"), ConnectorError::Protocol { .. }));
    }
}
