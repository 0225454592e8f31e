//! The HTTP contract on the SQLite adapter.

use ai_message_testkit::{http_api_tests, sqlite};

http_api_tests!(sqlite::fresh_sqlite);
