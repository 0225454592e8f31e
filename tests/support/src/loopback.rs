//! A test double's HTTP server on 127.0.0.1, port 0, stopped when its handle is dropped
//! (also when the test panics).

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, IntoEndpoint};

pub struct LoopbackServer {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LoopbackServer {
    pub async fn start(
        app: impl IntoEndpoint<Endpoint: Endpoint + 'static> + Send + 'static,
    ) -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self { port, task }
    }
}
