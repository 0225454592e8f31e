//! The HTTP contract on the PostgreSQL adapter.

mod http_api;
mod postgres_support;

http_api_tests!(postgres_support::fresh_postgres);
