//! Hands the pages of code that only start-up ran back to the system once `serve` is up.
//!
//! A release build lays its code out in the order of `src/hot-code.txt` (build.rs): the
//! functions serving runs, then [`keystone_starting_begins`], the functions only start-up runs (loading
//! and checking the project, parsing the command line, building the script engine: about 2.8 MB
//! of code), then [`keystone_starting_ends`]. Those pages stay mapped after start, counted in the
//! process's resident memory although it never runs them again; [`release_soon`] unmaps them
//! (and has mimalloc give back the memory start-up freed). A later call into one (a reload in
//! development) maps its page back from the binary's file.

/// Marks where start-up's code begins (placed by src/hot-code.txt; the name is the link).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn keystone_starting_begins() -> u32 {
    std::hint::black_box(1)
}

/// Marks where start-up's code ends.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn keystone_starting_ends() -> u32 {
    std::hint::black_box(2)
}

/// How long after `serve` is up start-up's code is unmapped: by then the tasks start-up
/// spawned have run their first steps.
const AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// Unmaps start-up's code [`AFTER`] from now (on a Tokio runtime).
pub fn release_soon() {
    crate::allocator::release_this_threads_blocks();
    // SAFETY: mimalloc's own collection of this thread's free memory; no pointer is handed over.
    unsafe { libmimalloc_sys::mi_collect(true) };
    tokio::spawn(async {
        tokio::time::sleep(AFTER).await;
        keystone_release_start_up_code();
    });
}

/// Unmaps the whole pages between the two marks. In a build laid out otherwise the marks sit
/// anywhere in the code: then this unmaps some code that is mapped back when next run, or,
/// with the marks out of order or far apart, nothing. Named, so src/hot-code.txt can place it
/// with the serving code, outside what it unmaps.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn keystone_release_start_up_code() {
    let page = rustix::param::page_size();
    let begins = keystone_starting_begins as *const () as usize;
    let ends = keystone_starting_ends as *const () as usize;
    let from = begins.next_multiple_of(page);
    let to = ends / page * page;
    if to <= from || to - from > 8 << 20 {
        return;
    }
    // SAFETY: [from, to) lies between two functions of this binary, inside its code, which is
    // mapped read-only and private from the executable's file and never written. MADV_DONTNEED
    // on such a mapping only drops the page table entries: nothing is lost, and the next
    // instruction fetched from a dropped page faults it back in from the file.
    let _ = unsafe { rustix::mm::madvise(from as *mut std::ffi::c_void, to - from, rustix::mm::Advice::LinuxDontNeed) };
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    /// Whatever lies between the marks (in a test build, code laid out anywhere), code run after
    /// the unmapping is mapped back and runs as before.
    #[test]
    fn code_run_after_the_unmapping_still_runs() {
        let before = crate::cli::Cli::try_parse_from(["keystone-rs", "check", "site"]);
        super::keystone_release_start_up_code();
        let after = crate::cli::Cli::try_parse_from(["keystone-rs", "check", "site"]);
        assert_eq!(format!("{before:?}"), format!("{after:?}"));
        assert!(after.is_ok());
    }
}
