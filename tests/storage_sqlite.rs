//! The storage contract against the SQLite adapter, each case on its own database file.

use ai_message_testkit::{sqlite, storage_contract_tests};

storage_contract_tests!(sqlite::fresh_sqlite);
