//! The connector side of the pipeline: the [`Source`] trait every platform
//! crate implements, and the HTTP plumbing they share (error classification,
//! retry policy, rate limiting, the SSRF guard).
//!
//! Connectors know nothing of the unified model: they yield [`RawRecord`]
//! pages, each with the cursor that resumes after it.

pub mod callback_crypto;
mod error;
mod http;
pub mod mock_server;
pub mod push;
mod rate_limit;
pub mod retry;
pub mod ssrf;
pub mod synthetic;

pub use error::ConnectorError;
pub use http::{HttpClient, HttpConfig};
pub use push::{
    MissedEvent, MissedEvents, PushError, PushOutcome, PushReply, PushRequest, PushSource, Refetch,
};
pub use rate_limit::RateLimiter;
pub use ssrf::{UrlPolicy, UrlRefused};

use async_trait::async_trait;
use hrhub_model::RawRecord;

/// One page of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records of this page, in source order.
    pub records: Vec<RawRecord>,
    /// Where the next read of this stream starts. Committed with the page's
    /// records, so a crash resumes exactly after the last committed page.
    /// `None` means "from the beginning" (used by full-scan streams once
    /// their scan completes).
    pub cursor: Option<String>,
    /// True when the stream is caught up: the engine stops asking.
    pub done: bool,
}

/// What `hrhub check` reports for a connector.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// One line per fact verified, e.g. "authenticated as admin@acme.com (admin)".
    pub details: Vec<String>,
}

/// A platform the hub can read from.
#[async_trait]
pub trait Source: Send + Sync {
    /// The connector kind (`zendesk`, `dingtalk`, ...); mapping files are
    /// looked up by (kind, stream).
    fn kind(&self) -> &'static str;

    /// The streams this connector offers, in the order a full sync runs them
    /// (people first, so later streams resolve their identities).
    fn streams(&self) -> Vec<String>;

    /// Verifies credentials and reachability without reading data.
    async fn check(&self) -> Result<CheckReport, ConnectorError>;

    /// Reads the page of `stream` that starts at `cursor` (`None`: from the
    /// configured start). Transient failures are retried inside; an error
    /// returned here is final for this run.
    async fn read_page(&self, stream: &str, cursor: Option<&str>) -> Result<Page, ConnectorError>;

    /// Fetches specific records of `stream` by id (after an event that
    /// carries only ids). Connectors without event push need not support it.
    async fn fetch(&self, stream: &str, ids: &[String]) -> Result<Vec<RawRecord>, ConnectorError> {
        let _ = ids;
        Err(ConnectorError::Config(format!(
            "{} cannot fetch single records of `{stream}`",
            self.kind()
        )))
    }

    /// True when every read of `stream` from the start (cursor `None`) to
    /// `done` enumerates everything the platform holds, so a completed scan
    /// proves that what it did not see was deleted upstream. Only full-scan
    /// streams of platforms that do not report deletes qualify.
    fn reconciles(&self, stream: &str) -> bool {
        let _ = stream;
        false
    }

    /// The connector's event push receiver, when it has one configured.
    fn push(&self) -> Option<&dyn PushSource> {
        None
    }

    /// Whether the platform keeps the events it failed to push for
    /// [`Source::missed_events`] (DingTalk's failed-push list).
    fn keeps_missed_events(&self) -> bool {
        false
    }

    /// The next batch of events the platform failed to push. Fetching
    /// removes them on the platform's side: land a batch before asking for
    /// the next.
    async fn missed_events(&self) -> Result<MissedEvents, ConnectorError> {
        Ok(MissedEvents::default())
    }
}

/// A stream read to its end.
#[derive(Debug)]
pub struct Drained {
    pub records: Vec<RawRecord>,
    /// The cursor of the last page (where the next read would start).
    pub cursor: Option<String>,
    pub pages: usize,
}

/// Reads `stream` from `cursor` until a page says it is done, without
/// writing anything (tests, benchmarks, diagnostics; syncs go page by page
/// through the engine). Fails after `max_pages` pages, so a connector that
/// never finishes is caught.
pub async fn read_to_end(
    source: &dyn Source,
    stream: &str,
    mut cursor: Option<String>,
    max_pages: usize,
) -> Result<Drained, ConnectorError> {
    let mut records = Vec::new();
    for pages in 1..=max_pages {
        let page = source.read_page(stream, cursor.as_deref()).await?;
        records.extend(page.records);
        cursor = page.cursor;
        if page.done {
            return Ok(Drained {
                records,
                cursor,
                pages,
            });
        }
    }
    Err(ConnectorError::protocol(
        source.kind(),
        format!("stream `{stream}` did not finish within {max_pages} pages"),
    ))
}
