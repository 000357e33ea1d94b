//! One module per command.
pub mod check;
pub mod new;
pub mod routes;
pub mod serve;
