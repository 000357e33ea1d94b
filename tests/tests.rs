//! The integration test binary: one for the whole suite.
mod util;

mod browser;
mod fuzz;
mod check;
mod e2e;
mod live;
mod new;
mod router;
mod security;
