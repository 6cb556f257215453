//! A loopback TCP relay to the test PostgreSQL that a test can switch off, to stage a database outage.
#![allow(dead_code)] // each test binary uses a different part

use super::db::TestDb;
use meetbot::store::StoreOptions;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A TCP relay on 127.0.0.1 to the test PostgreSQL. Switched off, its port is closed and every
/// relayed connection cut, so the store's URL points at a closed port, as in an outage.
pub struct Relay {
    /// Where the relay listens.
    pub addr: SocketAddr,
    target: String,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    /// Starts relaying to `target` (host:port) on a free loopback port.
    pub async fn start(target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            target,
            accept: Mutex::new(None),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (target, conns) = (self.target.clone(), self.conns.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let relayed = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                conns.lock().unwrap().push(relayed.abort_handle());
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Closes the port and cuts every relayed connection.
    pub async fn down(&self) {
        let task = self.accept.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await; // the listener, and so the port, is closed once this returns
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
        assert!(
            tokio::net::TcpStream::connect(self.addr).await.is_err(),
            "the relay port is closed"
        );
    }

    /// Opens the same port again.
    pub async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind the relay port");
        self.serve(listener);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// A fresh schema on the test PostgreSQL reached through a [`Relay`], with a small pool that gives up quickly.
pub async fn relayed_postgres() -> Option<(Relay, TestDb)> {
    let base = url::Url::parse(&super::db::postgres_base_url()).ok()?;
    let target = format!(
        "{}:{}",
        base.host_str().unwrap_or("127.0.0.1"),
        base.port().unwrap_or(5432)
    );
    let relay = Relay::start(target).await;
    let options = StoreOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let db = super::db::postgres_db_via(Some(relay.addr), options).await?;
    Some((relay, db))
}
