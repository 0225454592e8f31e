//! The HTTP contract on the in-memory adapter.

mod http_api;

use ai_message_memory::MemoryStore;

http_api_tests!(|| async { (MemoryStore::storage(), ()) });
