//! One module per family of rules; each pushes diagnostics with a stable code.
pub mod links;
pub mod orphans;
pub mod sockets;
pub mod templates;
