//! Entries to outputs.

pub mod durable;
