//! The HTTP contract on the SQLite adapter.

mod http_api;
mod sqlite_support;

http_api_tests!(sqlite_support::fresh_sqlite);
