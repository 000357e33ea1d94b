//! keystone-rs: scaffold and serve real-time web apps whose sockets share the HTTP session.
//!
//! The project folder is loaded once into plain data by [`project::load`]; `serve` builds
//! its router and socket handlers from that data, `check` prints its diagnostics.

pub(crate) mod admin;
pub mod allocator;
pub mod check;
pub mod cli;
pub(crate) mod cmd;
pub mod diagnostic;
pub mod lists;
pub(crate) mod log;
pub(crate) mod private;
pub mod project;
pub mod realtime;
pub(crate) mod scaffold;
pub mod script;
pub mod server;
pub(crate) mod start_up_code;
pub mod users;
