//! The HTTP side every platform mock shares: serve a router on a free
//! loopback port until the handle is dropped or shut down. The platform
//! behaviour itself lives in each connector's `mock` module.

use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running mock server. Stops when dropped.
pub struct MockServer {
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Serves `app` on `127.0.0.1:<free port>`.
    pub async fn start(platform: &str, app: axum::Router) -> MockServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:0 for the {platform} mock: {e}"));
        let addr = listener.local_addr().expect("mock listener address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        MockServer {
            base_url: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops serving and waits (briefly) for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A transport fault a mock injects instead of answering normally, as real
/// networks and overloaded platforms do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFault {
    /// The request is read and never answered: only the client's timeout
    /// gets it out.
    Hang,
    /// The status, headers and the first half of the body are sent, then
    /// the connection is cut.
    ResetMidBody,
}

/// Which of a mock's next requests get a [`TransportFault`]: the next
/// `count` after skipping `skip`.
#[derive(Debug, Default)]
pub struct FaultPlan {
    skip: u32,
    count: u32,
    fault: Option<TransportFault>,
}

impl FaultPlan {
    pub fn arm(&mut self, fault: TransportFault, skip: u32, count: u32) {
        *self = FaultPlan {
            skip,
            count,
            fault: Some(fault),
        };
    }

    /// The fault for the request arriving now, if any.
    pub fn take(&mut self) -> Option<TransportFault> {
        if self.count == 0 {
            return None;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        self.count -= 1;
        self.fault
    }
}

/// Delivers `response` through `fault`.
pub async fn with_fault(
    fault: Option<TransportFault>,
    response: axum::response::Response,
) -> axum::response::Response {
    match fault {
        None => response,
        Some(TransportFault::Hang) => std::future::pending().await,
        Some(TransportFault::ResetMidBody) => {
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            // no length: the body is chunked, and the error ends the
            // connection without its last chunk
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "mock: connection cut mid-body",
                )),
            ];
            axum::response::Response::from_parts(
                parts,
                axum::body::Body::from_stream(futures::stream::iter(chunks)),
            )
        }
    }
}
