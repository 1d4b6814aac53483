//! `hrhub.toml`: one file, secrets from the environment.
//!
//! `${VAR}` (or `${VAR:-default}`) anywhere in the file is replaced by the
//! environment variable before parsing, as Vector does; put it inside a
//! double-quoted string. `HRHUB_STORE_URL` overrides `[store] url`;
//! `HRHUB_ALLOW_PRIVATE_URLS=1` turns `[security] allow_private_urls` on.
//! Unknown keys and bad values stop start-up with a message naming the key.

use anyhow::{anyhow, bail, Context, Result};
use hrhub_connector::UrlPolicy;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub mappings: MappingsConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub reports: ReportsConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default, rename = "connector")]
    pub connectors: Vec<ConnectorEntry>,
    /// Where the file was read from; relative paths resolve against its folder.
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (default: `hrhub.db` next to the config) or `postgres://…`.
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingsConfig {
    /// A folder of mapping files that override the shipped ones per (kind, stream).
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Seconds a stream's lease lasts without renewal (renewed after every
    /// page). When a hub process on another host dies mid-sync, its streams
    /// wait at most this long before another process takes them over (a dead
    /// process on the same host is taken over at once). Must exceed the
    /// longest time one page takes to fetch and write.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            lease_ttl_secs: default_lease_ttl(),
        }
    }
}

fn default_lease_ttl() -> u64 {
    300
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Let connectors reach loopback, link-local and private addresses
    /// (refused by default: see `hrhub_connector::ssrf`). For mock
    /// platforms on 127.0.0.1 only: the demo and the tests.
    /// `HRHUB_ALLOW_PRIVATE_URLS=1` turns it on too.
    #[serde(default)]
    pub allow_private_urls: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// Thresholds of `/api/v1/reports/probation`.
    #[serde(default)]
    pub probation: hrhub_server::api::ProbationThresholds,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where `hrhub serve` listens.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Mark the dashboard's session cookie `Secure`: set it when people reach
    /// hrhub over HTTPS (a TLS-terminating proxy in front). Requests whose
    /// proxy sends `X-Forwarded-Proto: https` get `Secure` regardless.
    #[serde(default)]
    pub secure_cookie: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            secure_cookie: false,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}

/// One `[[connector]]` table. The keys below are common to every kind; the
/// rest belong to the kind and are checked by its connector crate.
#[derive(Debug, Deserialize)]
pub struct ConnectorEntry {
    /// Unique name of this connector instance; also the identity system name.
    pub id: String,
    /// Platform kind: `zendesk`.
    pub kind: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// 5-field cron (`min hour day month weekday`) used by `hrhub serve`.
    pub schedule: Option<String>,
    /// Request timeout in seconds (default 60).
    pub timeout_secs: Option<u64>,
    /// How many times a request that fails transiently (5xx, 429, timeout,
    /// cut connection) is tried before the stream fails (default 8).
    pub max_attempts: Option<u32>,
    /// Keys this connector's people are matched by, in order of trust
    /// (default `["employee_no", "email", "mobile"]`); an account already
    /// linked to an employee is matched by its link first.
    pub match_keys: Option<Vec<String>>,
    /// The kind-specific settings.
    #[serde(flatten)]
    pub settings: toml::Table,
}

fn yes() -> bool {
    true
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read config file {}; pass --config FILE, copy deploy/hrhub.example.toml, or try `hrhub demo`",
                path.display()
            )
        })?;
        let mut config = Config::parse(&path.display().to_string(), &text)?;
        config.dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(config)
    }

    pub fn parse(file: &str, text: &str) -> Result<Config> {
        Config::parse_with_env(file, text, |name| std::env::var(name).ok())
    }

    fn parse_with_env(
        file: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let text = interpolate_env(file, text, &env)?;
        let mut config: Config = toml::from_str(&text).map_err(|e| anyhow!("{file}: {e}"))?;
        if let Some(url) = env("HRHUB_STORE_URL") {
            config.store.url = Some(url);
        }
        match env("HRHUB_ALLOW_PRIVATE_URLS").as_deref().map(str::trim) {
            None | Some("" | "0" | "false") => {}
            Some("1" | "true") => config.security.allow_private_urls = true,
            Some(other) => bail!(
                "environment variable HRHUB_ALLOW_PRIVATE_URLS must be 1 or 0 (got `{other}`)"
            ),
        }
        config.validate(file)?;
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<()> {
        if self.sync.lease_ttl_secs < 5 {
            bail!(
                "{file}: [sync] key `lease_ttl_secs`: {} is too short; use at least 5 (default 300)",
                self.sync.lease_ttl_secs
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.connectors.iter().enumerate() {
            let at = format!("{file}: connector[{i}] (id `{}`)", c.id);
            if c.max_attempts == Some(0) {
                bail!("{at}: key `max_attempts` must be at least 1 (default 8)");
            }
            if c.id.is_empty()
                || !c
                    .id
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
            {
                bail!("{at}: key `id` must be non-empty letters, digits, `-` or `_`");
            }
            if !seen.insert(&c.id) {
                bail!("{at}: key `id` repeats an earlier connector's id; ids must be unique");
            }
            if let Some(schedule) = &c.schedule {
                hrhub_sync::to_six_fields(schedule)
                    .map_err(|e| anyhow!("{at}: key `schedule`: {e}"))?;
            }
        }
        if let Some(url) = &self.store.url {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres:")
                || url.starts_with("postgresql:"))
            {
                bail!("{file}: key `store.url` must start with sqlite:// or postgres:// (got `{url}`)");
            }
        }
        Ok(())
    }

    /// Which addresses connectors may reach.
    pub fn url_policy(&self) -> UrlPolicy {
        if self.security.allow_private_urls {
            UrlPolicy::allow_private()
        } else {
            UrlPolicy::public_only()
        }
    }

    /// The store URL, defaulting to `hrhub.db` next to the config file.
    pub fn store_url(&self) -> String {
        self.store
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.dir.join("hrhub.db").display()))
    }

    pub fn connector(&self, id: &str) -> Result<&ConnectorEntry> {
        self.connectors.iter().find(|c| c.id == id).ok_or_else(|| {
            let ids: Vec<_> = self.connectors.iter().map(|c| c.id.as_str()).collect();
            anyhow!(
                "no connector with id `{id}` in the config; configured: {}",
                ids.join(", ")
            )
        })
    }
}

/// Deserializes a connector's kind-specific table, naming the failing key.
pub fn connector_settings<T: serde::de::DeserializeOwned>(entry: &ConnectorEntry) -> Result<T> {
    let value = toml::Value::Table(entry.settings.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." {
            String::new()
        } else {
            format!(" key `{path}`:")
        };
        anyhow!(
            "connector `{}` ({}):{key} {}",
            entry.id,
            entry.kind,
            e.inner()
        )
    })
}

/// Replaces `${VAR}` and `${VAR:-default}` with environment values, escaped
/// for a TOML basic string. Comment lines are left alone.
fn interpolate_env(
    file: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("{file}:{}: `${{` without a closing `}}`", line_no + 1))?;
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let value = lookup(name).or_else(|| default.map(str::to_string)).ok_or_else(|| {
                anyhow!(
                    "{file}:{}: environment variable {name} is not set; export it or write ${{{name}:-default}}",
                    line_no + 1
                )
            })?;
            out.push_str(&value.replace('\\', "\\\\").replace('"', "\\\""));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr\"t".to_string())
    }

    #[test]
    fn env_vars_are_interpolated_and_escaped() {
        let text = "token = \"${TOKEN}\"\nother = \"${MISSING:-dflt}\"\n# ${IGNORED}\n";
        let out = interpolate_env("f.toml", text, env).unwrap();
        let table: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(table["token"].as_str(), Some("s3cr\"t"));
        assert_eq!(table["other"].as_str(), Some("dflt"));
    }

    #[test]
    fn a_missing_env_var_names_the_line_and_variable() {
        let err = interpolate_env("f.toml", "a = 1\ntoken = \"${NOPE}\"\n", env).unwrap_err();
        assert!(
            err.to_string()
                .contains("f.toml:2: environment variable NOPE is not set"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err =
            Config::parse("f.toml", "[store]\nurl = \"sqlite://x.db\"\nsize = 3\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `size`"), "{err}");
        let err = Config::parse("f.toml", "[stor]\nurl = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `stor`"), "{err}");
    }

    /// deploy/hrhub.example.toml stays a working configuration.
    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../deploy/hrhub.example.toml");
        let config = Config::parse_with_env("hrhub.example.toml", text, |name| {
            if name.starts_with("HRHUB_") {
                return None; // the hub's own switches stay at their defaults
            }
            Some(
                if name.ends_with("AES_KEY") {
                    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
                } else {
                    "secret"
                }
                .to_string(),
            )
        })
        .unwrap();
        assert_eq!(config.connectors.len(), 3);
        for entry in &config.connectors {
            crate::connectors::build(entry, config.url_policy())
                .unwrap_or_else(|e| panic!("{}: {e:#}", entry.id));
        }
    }

    #[test]
    fn private_base_urls_are_refused_naming_the_key_unless_allowed() {
        let zendesk =
            "[[connector]]\nid = \"zd\"\nkind = \"zendesk\"\nbase_url = \"http://127.0.0.1:9\"\n\
                       [connector.auth]\ntype = \"api_token\"\nemail = \"a@b.c\"\ntoken = \"t\"\n";
        let no_env = |_: &str| None;
        let build = |config: &Config| {
            crate::connectors::build(&config.connectors[0], config.url_policy()).map(|_| ())
        };

        let config = Config::parse_with_env("f.toml", zendesk, no_env).unwrap();
        let err = format!("{:#}", build(&config).unwrap_err());
        for part in [
            "connector `zd`",
            "key `base_url`",
            "127.0.0.1",
            "loopback",
            "`[security] allow_private_urls = true`",
            "HRHUB_ALLOW_PRIVATE_URLS=1",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }

        // the cloud metadata address, through another key of another kind
        let dingtalk = "[[connector]]\nid = \"dt\"\nkind = \"dingtalk\"\napp_key = \"k\"\napp_secret = \"s\"\n\
                        api_base_url = \"http://169.254.169.254\"\n";
        let config = Config::parse_with_env("f.toml", dingtalk, no_env).unwrap();
        let err = format!("{:#}", build(&config).unwrap_err());
        assert!(
            err.contains("key `api_base_url`") && err.contains("cloud metadata"),
            "{err}"
        );

        // allowed by the config file, or by the environment
        let allowed = format!("[security]\nallow_private_urls = true\n{zendesk}");
        let config = Config::parse_with_env("f.toml", &allowed, no_env).unwrap();
        build(&config).unwrap();
        let env_on = |name: &str| (name == "HRHUB_ALLOW_PRIVATE_URLS").then(|| "1".to_string());
        let config = Config::parse_with_env("f.toml", zendesk, env_on).unwrap();
        assert!(config.url_policy().allows_private());
        build(&config).unwrap();
        // the environment turns it on, never off
        let env_off = |name: &str| (name == "HRHUB_ALLOW_PRIVATE_URLS").then(|| "0".to_string());
        let config = Config::parse_with_env("f.toml", &allowed, env_off).unwrap();
        assert!(config.url_policy().allows_private());

        let env_bad = |name: &str| (name == "HRHUB_ALLOW_PRIVATE_URLS").then(|| "yes".to_string());
        let err = Config::parse_with_env("f.toml", zendesk, env_bad).unwrap_err();
        assert!(
            err.to_string().contains("HRHUB_ALLOW_PRIVATE_URLS"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Config::parse("f.toml", "[store]\nurl = \"mysql://x\"\n").unwrap_err();
        assert!(err.to_string().contains("store.url"), "{err}");
        let text = "[[connector]]\nid = \"zd\"\nkind = \"zendesk\"\nschedule = \"* * *\"\n";
        let err = Config::parse("f.toml", text).unwrap_err();
        assert!(err.to_string().contains("key `schedule`"), "{err}");
        let dup = "[[connector]]\nid = \"a\"\nkind = \"zendesk\"\n[[connector]]\nid = \"a\"\nkind = \"zendesk\"\n";
        assert!(Config::parse("f.toml", dup)
            .unwrap_err()
            .to_string()
            .contains("repeats"));
    }
}
