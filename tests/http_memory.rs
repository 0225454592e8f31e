//! The HTTP contract on the in-memory adapter.

use ai_message_memory::MemoryStore;
use ai_message_testkit::http_api_tests;

http_api_tests!(|| async { (MemoryStore::storage(), ()) });
