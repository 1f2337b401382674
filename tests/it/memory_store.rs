//! The store conformance suite against [`MemoryStore`] and against a
//! store that answers a poll late (the shape of a networked store).
//!
//! [`MemoryStore`]: tower_ws_ticket::MemoryStore

mod memory {
    crate::store_suite!(crate::store_suite::Memory);
}

mod late {
    crate::store_suite!(crate::store_suite::LateMemory);
}
