//! `ai-message`: the AI Message backend server and its operator commands.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use ai_message_cli::config::Config;
use ai_message_cli::{StartupError, create_superuser, migrate, openapi_document, serve};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "ai-message",
    version,
    about = "The AI Message backend: accounts, sessions and direct messages over an OpenAPI HTTP API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default). `serve --help` lists every setting.
    Serve,
    /// Print the OpenAPI document to standard output.
    Openapi,
    /// Create a superuser. The password comes from AI_MESSAGE_SUPERUSER_PASSWORD or, when it
    /// is unset, from the first line of standard input.
    CreateSuperuser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
    /// Manage the database schema (the original's `alembic` commands).
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration (`serve` also does this at start-up).
    Up,
    /// Show the newest applied migration.
    Current,
    /// List every migration, applied or pending.
    History,
    /// Write the next numbered, empty migration into migrations/sqlite and migrations/postgres.
    New {
        /// What the migration does, e.g. "add message reactions".
        name: String,
    },
}

/// `default` applies when RUST_LOG is unset: the server logs at info, operator commands only
/// warnings, so their output stays readable. `LOG_FORMAT=json` writes one JSON object per
/// line (a request's lines carry its `request_id` under `span`).
fn init_logging(default: &str) -> Result<(), String> {
    let requested = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.into());
    // tokio-postgres logs statements with their parameters (password hashes among them) at
    // debug level: never let that through, whatever RUST_LOG asks for.
    let filter = EnvFilter::builder()
        .with_regex(false)
        .parse(format!("{requested},tokio_postgres=info"))
        .map_err(|error| {
            format!("RUST_LOG: '{requested}' is not a log filter such as info or warn,ai_message_cli=debug ({error})")
        })?;
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format.trim().to_ascii_lowercase().as_str() {
        "" | "text" => logs.with_ansi(std::io::stdout().is_terminal()).init(),
        "json" => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        other => {
            return Err(format!(
                "LOG_FORMAT: '{other}' is neither 'text' nor 'json'"
            ));
        }
    }
    Ok(())
}

fn read_password() -> Result<String, String> {
    if let Ok(password) = std::env::var("AI_MESSAGE_SUPERUSER_PASSWORD") {
        return Ok(password);
    }
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        // Typed at a terminal: not echoed.
        rpassword::prompt_password("Password: ")
            .map_err(|e| format!("cannot read the password from the terminal: {e}"))?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(
            "no password: set AI_MESSAGE_SUPERUSER_PASSWORD or pass it on standard input".into(),
        );
    }
    Ok(password)
}

/// Writes to standard output like a Unix tool: a reader that stops early (`| head -1`) ends
/// the output quietly, without a panic or an error.
fn print_lines(lines: impl IntoIterator<Item = String>) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush());
    match written {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to standard output: {error}"))
        }
        _ => Ok(()),
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Openapi => print_lines([openapi_document()]),
        Command::Serve => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            serve(config).await.map_err(|e: StartupError| e.to_string())
        }
        Command::Migrate { action } => {
            let database = || {
                Config::from_env()
                    .map(|c| c.database)
                    .map_err(|e| e.to_string())
            };
            let lines = match action {
                MigrateAction::New { name } => {
                    migrate::new_files(std::path::Path::new("."), &name)?
                        .iter()
                        .map(|path| format!("created {}", path.display()))
                        .collect()
                }
                MigrateAction::Up => {
                    let applied = migrate::up(&database()?).await.map_err(|e| e.to_string())?;
                    if applied.is_empty() {
                        vec!["already at head".to_string()]
                    } else {
                        applied
                    }
                }
                MigrateAction::Current => {
                    vec![
                        migrate::current(&database()?)
                            .await
                            .map_err(|e| e.to_string())?,
                    ]
                }
                MigrateAction::History => migrate::history(&database()?)
                    .await
                    .map_err(|e| e.to_string())?,
            };
            print_lines(lines)
        }
        Command::CreateSuperuser { username, email } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let password = read_password()?;
            let user = create_superuser(&config, &username, &email, &password)
                .await
                .map_err(|e| e.to_string())?;
            print_lines([format!(
                "created superuser {} (id {})",
                user.username, user.id
            )])
        }
    }
}

/// Reads `ENV_FILE`, else `.env` in the working directory; the real environment wins. Never a
/// parent directory's `.env`: a server started under `/tmp` would take settings from
/// `/tmp/.env`, which any local user may write. Before any thread starts: it sets process
/// variables.
fn load_env_file() -> Result<Option<std::path::PathBuf>, String> {
    if let Some(path) = std::env::var_os("ENV_FILE").filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        return dotenvy::from_path(&path)
            .map(|()| Some(path.clone()))
            .map_err(|error| format!("ENV_FILE: cannot read {}: {error}", path.display()));
    }
    let here = std::path::Path::new(".env");
    match dotenvy::from_path(here) {
        Ok(()) => Ok(Some(
            std::env::current_dir().map_or_else(|_| here.to_path_buf(), |dir| dir.join(here)),
        )),
        Err(error) if error.not_found() => Ok(None),
        Err(error) => Err(format!(".env: {error}")),
    }
}

/// A variable that looks like a setting but is none (`DATABSE_URL`) would be ignored in
/// silence: say which one was meant.
fn warn_about_lookalike_settings() {
    let known = ai_message_cli::config::names::known_settings();
    let present = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for (given, meant) in ai_message_cli::config::names::lookalikes(present, &known) {
        tracing::warn!(
            "{given} is not a setting of ai-message and is ignored; did you mean {meant}?"
        );
    }
}

fn main() -> ExitCode {
    let env_file = load_env_file();
    let matches = Cli::command()
        .mut_subcommand("serve", |serve| {
            serve.after_help(ai_message_cli::config::names::settings_help())
        })
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let command = cli.command.unwrap_or(Command::Serve);
    if let Err(message) = init_logging(match command {
        Command::Serve => "info",
        _ => "warn",
    }) {
        eprintln!("ai-message: error: {message}");
        return ExitCode::FAILURE;
    }
    match env_file {
        Ok(Some(path)) => tracing::info!("settings read from {} too", path.display()),
        Ok(None) => {}
        Err(message) => {
            eprintln!("ai-message: error: {message}");
            return ExitCode::FAILURE;
        }
    }
    warn_about_lookalike_settings();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ai-message: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ai-message: error: {message}");
            ExitCode::FAILURE
        }
    }
}
