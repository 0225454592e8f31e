//! A TCP relay to PostgreSQL that a test can cut, restore, or freeze (links stay open and go
//! silent, as through a NAT that lost its state).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::postgres::admin_url;

/// A TCP relay to PostgreSQL that the test can cut and restore.
pub struct Relay {
    pub port: u16,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// One flag per relayed link: set, the link stops forwarding but stays open, as a
    /// connection through a NAT or firewall that lost its state.
    frozen: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    accept: Option<JoinHandle<()>>,
}

/// Forwards one direction of a link until either side closes; once `frozen`, swallows what
/// arrives and forwards nothing more.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Relay {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut relay = Self {
            port,
            upstream,
            tasks: Arc::default(),
            frozen: Arc::default(),
            accept: None,
        };
        relay.serve(listener);
        relay
    }

    fn serve(&mut self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let frozen = self.frozen.clone();
        let upstream = self.upstream.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let flag = Arc::new(AtomicBool::new(false));
                frozen.lock().unwrap().push(flag.clone());
                let task = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&upstream).await {
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::select! {
                            _ = pump(in_read, out_write, flag.clone()) => {}
                            _ = pump(out_read, in_write, flag) => {}
                        }
                    }
                });
                tasks.lock().unwrap().push(task);
            }
        }));
    }

    /// Every link open now goes silent for good, without closing; new links work.
    pub fn freeze_open_links(&self) {
        for flag in self.frozen.lock().unwrap().drain(..) {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// Closes every relayed connection and stops accepting new ones.
    pub fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub async fn restore(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(error) => panic!("cannot rebind the relay: {error}"),
            }
        };
        self.serve(listener);
    }
}

pub fn upstream_address() -> String {
    let url = admin_url();
    let after_at = url.rsplit_once('@').map(|(_, rest)| rest).unwrap_or(&url);
    let host_port = after_at.split('/').next().unwrap_or("127.0.0.1:5432");
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    }
}
