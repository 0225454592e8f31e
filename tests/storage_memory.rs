//! The storage contract against the in-memory adapter.

use ai_message_memory::MemoryStore;
use ai_message_testkit::storage_contract_tests;

storage_contract_tests!(|| async { (MemoryStore::storage(), ()) });
