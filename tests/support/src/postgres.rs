//! A scratch PostgreSQL database per test, created on the server of `TEST_DATABASE_URL`
//! (default `postgresql://postgres@127.0.0.1:5432/postgres`) and dropped afterwards.

use std::sync::atomic::{AtomicU32, Ordering};

use ai_message_core::ports::Storage;
use ai_message_postgres::{PostgresStore, PostgresUrl};

pub const DEFAULT_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// Whether `url` reaches its server over TCP on this machine (a loopback address or
/// `localhost`): what only a local server offers (its Unix socket, plain connections by
/// default) is checked there.
pub fn on_loopback(url: &str) -> bool {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return false;
    };
    let hosts = config.get_hosts();
    !hosts.is_empty()
        && hosts.iter().all(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => {
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            _ => false,
        })
}

/// Set (to anything) where a PostgreSQL server must answer: `.ci/run` sets it, so CI can never
/// pass by skipping the PostgreSQL suites.
pub const REQUIRE_ENV: &str = "TEST_REQUIRE_POSTGRES";

/// True when no PostgreSQL server answers at [`admin_url`] and none is required: the caller
/// (a PostgreSQL test) returns at once. Says so in one line per test binary. Panics when
/// [`REQUIRE_ENV`] is set and no server answers.
pub fn skip() -> bool {
    static ANSWERS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    static SAID: std::sync::Once = std::sync::Once::new();
    let answers = *ANSWERS.get_or_init(server_answers);
    if answers {
        return false;
    }
    if std::env::var_os(REQUIRE_ENV).is_some() {
        panic!(
            "no PostgreSQL server at {} ({REQUIRE_ENV} is set, so the PostgreSQL tests may not \
             be skipped)",
            admin_url()
        );
    }
    SAID.call_once(|| {
        // Straight to the process's stderr: the test harness captures `eprintln!`.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "PostgreSQL tests skipped: no server at {}; set TEST_DATABASE_URL",
            admin_url()
        );
    });
    true
}

/// Whether something accepts connections at the admin URL's host and port.
fn server_answers() -> bool {
    use std::net::ToSocketAddrs;
    let Ok(config) = admin_url().parse::<tokio_postgres::Config>() else {
        return false;
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    config.get_hosts().iter().any(|host| match host {
        tokio_postgres::config::Host::Tcp(name) => (name.as_str(), port)
            .to_socket_addrs()
            .map(|mut addrs| {
                addrs.any(|addr| {
                    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
                        .is_ok()
                })
            })
            .unwrap_or(false),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(dir) => dir.join(format!(".s.PGSQL.{port}")).exists(),
    })
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
