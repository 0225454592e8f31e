//! The HTTP contract on the PostgreSQL adapter.

use ai_message_testkit::{http_api_tests, postgres};

http_api_tests!(postgres::fresh_postgres, skip_when postgres::skip);
