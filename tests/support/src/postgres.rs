//! A scratch PostgreSQL database per test, created on the server of `TEST_DATABASE_URL`
//! (default `postgresql://postgres@127.0.0.1:5432/postgres`) and dropped afterwards.

use std::sync::atomic::{AtomicU32, Ordering};

use ai_message_core::ports::Storage;
use ai_message_postgres::{PostgresStore, PostgresUrl};

pub const DEFAULT_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// The admin URL with another database name.
pub fn url_for(database: &str) -> String {
    let admin = admin_url();
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base.to_string(), format!("?{query}")),
        None => (admin.clone(), String::new()),
    };
    let server = base
        .rsplit_once('/')
        .map(|(server, _)| server)
        .unwrap_or(&base);
    format!("{server}/{database}{query}")
}

/// Drops its database when the test is done, whatever happened.
pub struct ScratchDatabase {
    pub name: String,
    pub url: String,
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {} must be running: {e}", admin_url()));
    tokio::spawn(connection);
    client
}

impl ScratchDatabase {
    pub async fn create() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "aim_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        // Identifiers cannot be parameters; the name is made of digits and letters above.
        admin_client()
            .await
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("a scratch database");
        let url = url_for(&name);
        Self { name, url }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a small runtime of its own does the work.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let client = admin_client().await;
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

pub async fn fresh_postgres() -> (Storage, ScratchDatabase) {
    let database = ScratchDatabase::create().await;
    let url = PostgresUrl::parse(&database.url).unwrap();
    let store = PostgresStore::open(&url, 4)
        .await
        .expect("a fresh PostgreSQL database opens and migrates");
    (store.storage(), database)
}
