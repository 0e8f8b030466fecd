//! Serving a [`Sim`] on a listener the caller already bound.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::sim::Sim;

/// A simulator being served in a tokio task. Dropping the handle does not stop the server;
/// resolving the shutdown future given to [`spawn`] does.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    sim: Sim,
    task: JoinHandle<io::Result<()>>,
}

impl SimHandle {
    /// `http://IP:PORT`, the WeChat base URL to give a client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The simulator, for driving it from Rust.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server has stopped (after the shutdown future resolved and open
    /// connections finished), e.g. to keep `wxlogin sim` running.
    pub async fn wait(self) -> io::Result<()> {
        self.task.await.map_err(io::Error::other)?
    }
}

/// Serves `sim` on `listener` in a new tokio task until `shutdown` resolves.
///
/// The listener is already bound, so a caller can connect as soon as this returns, no sleep
/// needed. On shutdown, calls held by a `hang` fault are released so that graceful shutdown
/// completes.
pub async fn spawn(
    listener: TcpListener,
    sim: Sim,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let release = sim.inner().shutdown.clone();
    release.send_replace(false);
    let signal = async move {
        shutdown.await;
        release.send_replace(true);
    };
    let router = sim.router();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(signal)
            .await
    });
    Ok(SimHandle { addr, sim, task })
}
