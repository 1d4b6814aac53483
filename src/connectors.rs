//! The connector registry: `kind` → platform crate. Adding a platform means
//! one match arm here and its mapping files.

use crate::config::{connector_settings, ConnectorEntry};
use anyhow::{bail, Result};
use hrhub_connector::HttpConfig;
use hrhub_sync::ConnectorHandle;
use std::sync::Arc;
use std::time::Duration;

pub const KINDS: &[&str] = &["zendesk"];

pub fn build(entry: &ConnectorEntry) -> Result<ConnectorHandle> {
    let mut http = HttpConfig::default();
    if let Some(secs) = entry.timeout_secs {
        http.timeout = Duration::from_secs(secs);
    }
    let source: Arc<dyn hrhub_connector::Source> = match entry.kind.as_str() {
        "zendesk" => {
            let config: hrhub_zendesk::ZendeskConfig = connector_settings(entry)?;
            Arc::new(
                hrhub_zendesk::Zendesk::new(config, http)
                    .map_err(|e| anyhow::anyhow!("connector `{}`: {e}", entry.id))?,
            )
        }
        other => bail!(
            "connector `{}`: unknown kind `{other}`; known kinds: {}",
            entry.id,
            KINDS.join(", ")
        ),
    };
    Ok(ConnectorHandle {
        id: entry.id.clone(),
        source,
    })
}
