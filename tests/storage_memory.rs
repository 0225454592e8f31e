//! The storage contract against the in-memory adapter.

mod storage_contract;

use ai_message_memory::MemoryStore;

storage_contract_tests!(|| async { (MemoryStore::storage(), ()) });
