//! The integration test binary: one for the whole suite.
mod util;

mod browser;
mod e2e;
mod new;
mod router;
