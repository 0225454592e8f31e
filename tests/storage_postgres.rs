//! The storage contract against the PostgreSQL adapter, each case in its own database.

mod postgres_support;
mod storage_contract;

storage_contract_tests!(postgres_support::fresh_postgres);
