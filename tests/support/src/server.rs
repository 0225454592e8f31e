//! Runs the real `ai-message` binary for a test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `ai-message` binary cargo built beside the running test (`target/<profile>/`; a test
/// binary lives in its `deps/`). Only the cli package's integration tests get it built.
pub fn binary() -> std::path::PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("ai-message");
    assert!(
        binary.is_file(),
        "{} is missing: run this test from the ai-message-cli package",
        binary.display()
    );
    binary
}

/// Resident memory of a process in MiB (Linux `/proc`); 0 when it cannot be read.
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Builds the release `ai-message` binary (what the full benchmarks run), from the
/// workspace at `workspace_dir`.
pub fn build_release_binary(workspace_dir: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "ai-message-cli",
            "--bin",
            "ai-message",
        ])
        .current_dir(workspace_dir)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the release server builds");
}

/// A running server and the base URL it announced. Dropping it ends the process, so no
/// server outlives the test that started it, even one that panics.
pub struct Server {
    child: Child,
    base: String,
    log: mpsc::Receiver<String>,
    /// What the server logged before it listened (migrations, warnings).
    startup: Vec<String>,
}

impl Server {
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::start_with(env, None)
    }

    /// Starts the server with this soft and hard limit on open files.
    pub fn start_with_file_limit(env: &[(&str, &str)], soft: u64, hard: u64) -> Self {
        Self::start_with(env, Some((soft, hard)))
    }

    fn start_with(env: &[(&str, &str)], file_limit: Option<(u64, u64)>) -> Self {
        let mut command = Command::new(binary());
        if let Some((soft, hard)) = file_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: only an async-signal-safe system call runs between fork and exec.
            unsafe {
                command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard));
            }
        }
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", "memory://")
            .env("PORT", "0")
            .env("BCRYPT_COST", "4")
            .env("SECRET_KEY", "binary-test-key-of-at-least-32-bytes")
            .env("RUST_LOG", "info")
            // Settings come from the test alone, never from a developer's `.env`.
            .env("ENV_FILE", "/dev/null")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut startup = Vec::new();
        let base = loop {
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            let line = log
                .recv_timeout(remaining)
                .expect("the server announces where it listens");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
            startup.push(line);
        };
        Self {
            child,
            base,
            log,
            startup,
        }
    }

    /// What the server printed before it announced where it listens.
    pub fn startup_log(&self) -> &[String] {
        &self.startup
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush; what was committed must survive.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn terminate(self) -> (std::process::ExitStatus, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.terminate_after_signal()
    }

    /// Waits (15 s at most) for a server already signalled to exit.
    pub fn terminate_after_signal(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not stop within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut lines = std::mem::take(&mut self.startup);
        lines.extend(self.log.try_iter());
        (exit, lines)
    }
}

/// No server outlives its test, even one that panics before stopping it.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
