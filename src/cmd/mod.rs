//! One module per command.
pub mod new;
pub mod serve;
