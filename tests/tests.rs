//! The integration test binary: one for the whole suite.
mod util;

mod admin;
mod blog;
mod browser;
mod check;
mod cli;
mod cluster;
mod e2e;
mod errors;
mod fuzz;
mod inline;
mod install;
mod lists;
mod live;
mod new;
mod router;
mod security;
mod sessions;
mod soak;
mod suggestions;
mod terminal;
mod users;
