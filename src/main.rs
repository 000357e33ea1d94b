//! The `keystone-rs` binary: parses the command line and runs one command.
use std::process::ExitCode;

// The request path allocates many small strings and maps (scripts, templates, JSON):
// mimalloc, with freed small blocks reused while still cached (src/allocator.rs). Without
// transparent huge pages (`no_thp`) an idle server keeps 21 MiB resident instead of 35.
#[global_allocator]
static ALLOCATOR: keystone::allocator::Recycling = keystone::allocator::Recycling;

fn main() -> ExitCode {
    return_freed_pages_at_once();
    match keystone::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// `mi_option_purge_delay` in mimalloc.h (the same index in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc gives pages freed to its arenas back to the system only once a later allocation
/// or free finds them past the purge delay (1 s, 10 s for arena pages), so an idle server kept
/// what its last requests freed (3.4 MiB, issue 11) and a server whose sockets all left kept
/// their pages until traffic came back. Purging at once costs a `madvise` per freed page and a
/// page fault when it is used again: nothing measurable on GET / with a session, about 0.2
/// `madvise` and 2.3 more faults per first visit (README, Benchmarks). `MIMALLOC_PURGE_DELAY`
/// in the environment still decides.
fn return_freed_pages_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists (mimalloc's
        // options are not synchronized); 0 is a valid delay ("purge at once").
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // mimalloc's documented default purge delay is 1,000 ms; no option next to it has that value.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reading an option is a plain load.
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
        }
    }
}
