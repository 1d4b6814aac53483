//! The connector registry: `kind` → platform crate. Adding a platform means
//! one match arm here and its mapping files.

use crate::config::{connector_settings, ConnectorEntry};
use anyhow::{bail, Result};
use hrhub_connector::{HttpConfig, UrlPolicy};
use hrhub_model::MatchKey;
use hrhub_sync::ConnectorHandle;
use std::sync::Arc;
use std::time::Duration;

pub const KINDS: &[&str] = &[
    "zendesk",
    "dingtalk",
    "wecom",
    "moodle",
    "xapi",
    "cornerstone",
    "file",
];

/// Builds the connector `entry` describes; its URLs are checked against
/// `url_policy` now, and its requests at request time.
pub fn build(entry: &ConnectorEntry, url_policy: UrlPolicy) -> Result<ConnectorHandle> {
    let mut http = HttpConfig {
        url_policy,
        ..HttpConfig::default()
    };
    if let Some(secs) = entry.timeout_secs {
        http.timeout = Duration::from_secs(secs);
    }
    if let Some(attempts) = entry.max_attempts {
        http.retry.max_attempts = attempts;
    }
    let source: Arc<dyn hrhub_connector::Source> = match entry.kind.as_str() {
        "zendesk" => {
            let config: hrhub_zendesk::ZendeskConfig = connector_settings(entry)?;
            Arc::new(
                hrhub_zendesk::Zendesk::new(config, http)
                    .map_err(|e| anyhow::anyhow!("connector `{}`: {e}", entry.id))?,
            )
        }
        "dingtalk" => {
            let config: hrhub_dingtalk::DingTalkConfig = connector_settings(entry)?;
            Arc::new(
                hrhub_dingtalk::DingTalk::new(config, http)
                    .map_err(|e| anyhow::anyhow!("connector `{}`: {e}", entry.id))?,
            )
        }
        "wecom" => {
            let config: hrhub_wecom::WeComConfig = connector_settings(entry)?;
            Arc::new(
                hrhub_wecom::WeCom::new(config, http)
                    .map_err(|e| anyhow::anyhow!("connector `{}`: {e}", entry.id))?,
            )
        }
        "moodle" => {
            let config: hrhub_moodle::MoodleConfig = connector_settings(entry)?;
            Arc::new(
                hrhub_moodle::Moodle::new(config, http)
                    .map_err(|e| anyhow::anyhow!("connector `{}`: {e}", entry.id))?,
            )
        }
        "xapi" => {
            let config: hrhub_xapi::XapiConfig = connector_settings(entry)?;
            Arc::new(
                hrhub_xapi::Xapi::new(config, http)
                    .map_err(|e| anyhow::anyhow!("connector `{}`: {e}", entry.id))?,
            )
        }
        "cornerstone" => {
            let config: hrhub_cornerstone::CornerstoneConfig = connector_settings(entry)?;
            Arc::new(
                hrhub_cornerstone::Cornerstone::new(config, http)
                    .map_err(|e| anyhow::anyhow!("connector `{}`: {e}", entry.id))?,
            )
        }
        "file" => Arc::new(hrhub_file::FileSource::new(connector_settings(entry)?)),
        other => bail!(
            "connector `{}`: unknown kind `{other}`; known kinds: {}",
            entry.id,
            KINDS.join(", ")
        ),
    };
    let mut handle = ConnectorHandle::new(entry.id.clone(), source);
    if let Some(keys) = &entry.match_keys {
        handle.match_keys = keys
            .iter()
            .map(|k| {
                MatchKey::parse(k).ok_or_else(|| {
                    anyhow::anyhow!(
                        "connector `{}`: key `match_keys`: `{k}` is not a match key; use employee_no, email, mobile",
                        entry.id
                    )
                })
            })
            .collect::<Result<_>>()?;
    }
    Ok(handle)
}
