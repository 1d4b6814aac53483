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
