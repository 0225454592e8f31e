//! `DATABASE_URL`, read the way SQLAlchemy reads it, and the storage adapter it selects.

use std::path::PathBuf;

/// Which storage to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `memory://`: nothing survives the process.
    Memory,
    /// `sqlite://` or `sqlite:///:memory:`: an SQLite database in memory.
    SqliteInMemory,
    /// `sqlite:///relative.db` (from the working directory) or `sqlite:////absolute.db`.
    SqliteFile(PathBuf),
    /// `postgresql://…` or `postgres://…` (a SQLAlchemy driver suffix such as
    /// `postgresql+psycopg2://` is accepted and dropped).
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url == "memory://" {
            return Ok(Self::Memory);
        }
        if let Some(rest) = url.strip_prefix("sqlite://") {
            // What follows `sqlite://` is `/` + path; a leading `/` in the path makes it absolute.
            let path = rest.split('?').next().unwrap_or_default();
            return match path {
                "" | "/:memory:" => Ok(Self::SqliteInMemory),
                _ => match path.strip_prefix('/') {
                    Some(file) if !file.is_empty() => Ok(Self::SqliteFile(PathBuf::from(file))),
                    _ => Err(format!(
                        "'{url}' is not an SQLite URL (sqlite:///relative.db or sqlite:////absolute.db)"
                    )),
                },
            };
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("'{}' is not a URL", redact(url)))?;
        let base_scheme = scheme.split('+').next().unwrap_or_default();
        match base_scheme {
            "postgresql" | "postgres" => Ok(Self::Postgres(format!("postgresql://{rest}"))),
            _ => Err(format!(
                "unknown scheme '{scheme}' (use sqlite:///path.db, postgresql://…, or memory://)"
            )),
        }
    }

    /// The URL with any password hidden, for logs.
    pub fn describe(&self) -> String {
        match self {
            Self::Memory => "memory://".into(),
            Self::SqliteInMemory => "sqlite:///:memory:".into(),
            Self::SqliteFile(path) => format!("sqlite file {}", path.display()),
            Self::Postgres(url) => redact(url),
        }
    }
}

/// Replaces the password of `scheme://user:password@host` with `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_read_like_sqlalchemy() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///./backend.db"),
            Ok(DatabaseUrl::SqliteFile("./backend.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///x.db"),
            Ok(DatabaseUrl::SqliteFile("x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:////abs/x.db"),
            Ok(DatabaseUrl::SqliteFile("/abs/x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://"),
            Ok(DatabaseUrl::SqliteInMemory)
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///:memory:"),
            Ok(DatabaseUrl::SqliteInMemory)
        );
    }

    #[test]
    fn postgres_and_memory_urls() {
        assert_eq!(DatabaseUrl::parse("memory://"), Ok(DatabaseUrl::Memory));
        assert_eq!(
            DatabaseUrl::parse("postgres://u:p@h:5432/db"),
            Ok(DatabaseUrl::Postgres("postgresql://u:p@h:5432/db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql+psycopg2://u@h/db?sslmode=require"),
            Ok(DatabaseUrl::Postgres(
                "postgresql://u@h/db?sslmode=require".into()
            ))
        );
    }

    #[test]
    fn unknown_schemes_are_refused_without_showing_passwords() {
        let err = DatabaseUrl::parse("mysql://u:secret@h/db").unwrap_err();
        assert!(err.contains("unknown scheme 'mysql'"), "{err}");
        assert!(!err.contains("secret"));
        assert!(DatabaseUrl::parse("backend.db").is_err());
    }

    #[test]
    fn descriptions_hide_the_password() {
        let url = DatabaseUrl::parse("postgresql://app:s3cret@db:5432/prod").unwrap();
        assert_eq!(url.describe(), "postgresql://app:***@db:5432/prod");
    }
}
