//! One module per family of rules; each pushes diagnostics with a stable code.
pub mod deployment;
pub mod links;
pub mod orphans;
pub mod sockets;
pub mod templates;
