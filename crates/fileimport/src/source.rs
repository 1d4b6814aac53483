//! `kind = "file"` connectors: no API to poll; `hrhub import` stages a
//! file's rows and the sync engine lands them as one page of one run.

use crate::{read_file_with, FileError, Import, ReadOptions};
use async_trait::async_trait;
use hrhub_connector::{CheckReport, ConnectorError, Page, Source};
use hrhub_model::RawRecord;
use serde::Deserialize;
use std::path::Path;
use std::sync::Mutex;

/// The stream of a file connector unless configured otherwise (the
/// shipped mapping `mappings/file/training_export.toml` maps it).
pub const DEFAULT_STREAM: &str = "training_export";

/// The kind-specific settings of a `[[connector]]` with `kind = "file"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The stream the rows belong to, i.e. which mapping (`file`, stream)
    /// applies. Default `training_export`.
    #[serde(default)]
    pub stream: Option<String>,
    /// The encoding of CSV files (`utf-8`, `gbk`, `gb18030`, ...). Default: detected.
    #[serde(default)]
    pub encoding: Option<String>,
    /// The worksheet to read from workbooks. Default: the first.
    #[serde(default)]
    pub sheet: Option<String>,
    /// The columns that identify a row. Default: 工号, 课程编号, 完成时间
    /// when the file has them all, otherwise the whole row.
    #[serde(default)]
    pub key_columns: Option<Vec<String>>,
}

impl FileConfig {
    pub fn stream(&self) -> &str {
        self.stream.as_deref().unwrap_or(DEFAULT_STREAM)
    }

    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            encoding: self.encoding.clone(),
            sheet: self.sheet.clone(),
            key_columns: self.key_columns.clone(),
        }
    }
}

/// A file connector as a [`Source`]: [`FileSource::load`] reads a file and
/// stages its good rows; the next [`Source::read_page`] of the stream
/// returns them as one page (`done`, no cursor) and clears the stage. With
/// nothing staged, reading fails with a message pointing at `hrhub import`.
pub struct FileSource {
    config: FileConfig,
    staged: Mutex<Option<Vec<RawRecord>>>,
}

impl FileSource {
    pub fn new(config: FileConfig) -> Self {
        FileSource {
            config,
            staged: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &FileConfig {
        &self.config
    }

    /// Reads `path` with the connector's settings and stages its records.
    /// Returns the whole [`Import`] (its records are a copy of what was
    /// staged) so the caller can report and quarantine `errors`.
    pub fn load(&self, path: &Path) -> Result<Import, FileError> {
        let import = read_file_with(path, self.config.stream(), &self.config.read_options())?;
        self.stage(import.records.clone());
        Ok(import)
    }

    /// Stages records for the next read (replacing anything staged).
    pub fn stage(&self, records: Vec<RawRecord>) {
        *self.staged.lock().unwrap_or_else(|e| e.into_inner()) = Some(records);
    }
}

#[async_trait]
impl Source for FileSource {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn streams(&self) -> Vec<String> {
        vec![self.config.stream().to_string()]
    }

    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        Ok(CheckReport {
            details: vec![format!(
                "file connector for stream `{}`: nothing to reach; load exports with `hrhub import`",
                self.config.stream()
            )],
        })
    }

    async fn read_page(&self, stream: &str, _cursor: Option<&str>) -> Result<Page, ConnectorError> {
        if stream != self.config.stream() {
            return Err(ConnectorError::Config(format!(
                "this file connector has stream `{}`, not `{stream}`",
                self.config.stream()
            )));
        }
        let staged = self.staged.lock().unwrap_or_else(|e| e.into_inner()).take();
        match staged {
            Some(records) => Ok(Page {
                records,
                cursor: None,
                done: true,
            }),
            None => Err(ConnectorError::Config(
                "a file connector has no API to poll; load an export with `hrhub import --connector ID FILE`"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_refuses_unknown_keys() {
        let c: FileConfig = serde_json::from_value(serde_json::json!({"encoding": "gbk"})).unwrap();
        assert_eq!(c.stream(), "training_export");
        let err = serde_json::from_value::<FileConfig>(serde_json::json!({"encodng": "gbk"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("encodng"), "{err}");
    }
}
