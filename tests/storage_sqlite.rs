//! The storage contract against the SQLite adapter, each case on its own database file.

mod sqlite_support;
mod storage_contract;

storage_contract_tests!(sqlite_support::fresh_sqlite);
