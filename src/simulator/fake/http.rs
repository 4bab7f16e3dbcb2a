//! The actix server of a fake: 127.0.0.1 on a free port, stopped at once (requests in flight are
//! dropped) by `stop` or when dropped.

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use tokio::task::JoinHandle;

/// A running fake's HTTP server.
pub struct FakeServer {
    name: &'static str,
    port: u16,
    handle: ServerHandle,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl FakeServer {
    /// Starts serving the routes `configure` adds on 127.0.0.1 with a free port; `name` is for
    /// the log. Must be called inside a tokio runtime.
    pub fn start<C>(name: &'static str, configure: C) -> std::io::Result<FakeServer>
    where
        C: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        // Enough workers that many slow answers never queue behind each other (they are async),
        // few enough not to crowd a small machine.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let server = HttpServer::new(move || App::new().configure(configure.clone()))
            .workers(workers)
            .disable_signals()
            .shutdown_timeout(0)
            .bind(("127.0.0.1", 0))?;
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .ok_or_else(|| std::io::Error::other(format!("the fake {name} bound no address")))?;
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(FakeServer {
            name,
            port,
            handle,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the server at once (requests in flight are dropped) and waits until it is down.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::warn!("fake {} ended badly: {e}", self.name),
                Err(e) => log::warn!("fake {} ended badly: {e}", self.name),
            }
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Sends the stop command now; nobody is left to wait for it.
            drop(self.handle.stop(false));
        }
    }
}
