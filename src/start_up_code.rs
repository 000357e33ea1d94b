//! Gives the pages start-up touched back to the system once `serve` is up.
//!
//! Start-up (loading and checking the project, parsing the command line, building the script
//! engine) runs megabytes of code and reads tables that serving never touches again, and the
//! kernel maps each file page it faults in together with its neighbours (64 KB at a time). All
//! of that stays in the process's resident memory. [`release_soon`] drops every clean page
//! mapped from a file (the binary's code and read-only data, the shared libraries'), and has
//! mimalloc give back the memory start-up freed. Whatever serving runs next is mapped back
//! from the page cache on first use; a release build lays serving's code out together
//! (`src/hot-code.txt`, build.rs), so that is a few hundred pages. A later call into
//! start-up's code (a reload in development) maps its pages back the same way.

/// How long after `serve` is up the pages are dropped: by then the tasks start-up spawned have
/// run their first steps.
const AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// Drops start-up's pages [`AFTER`] from now (on a Tokio runtime).
pub fn release_soon() {
    crate::allocator::release_this_threads_blocks();
    // SAFETY: mimalloc's own collection of this thread's free memory; no pointer is handed over.
    unsafe { libmimalloc_sys::mi_collect(true) };
    tokio::spawn(async {
        tokio::time::sleep(AFTER).await;
        drop_clean_file_pages();
    });
}

/// Drops this process's clean, read-only pages mapped from files (see [`clean_file_regions`]).
fn drop_clean_file_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return };
    for (start, end) in clean_file_regions(&smaps) {
        // SAFETY: [start, end) is a private, read-only mapping of a file with no page of its own
        // (no anonymous or privately dirtied page: nothing a relocation or a write put there),
        // so every page equals the file's. MADV_DONTNEED on it only drops page table entries:
        // nothing is lost, and the next access faults the page back in from the file.
        let _ = unsafe {
            rustix::mm::madvise(start as *mut std::ffi::c_void, end - start, rustix::mm::Advice::LinuxDontNeed)
        };
    }
}

/// The mappings in a `/proc/PID/smaps` text that are read-only (`r--p`, `r-xp`), private,
/// backed by a file, and hold no page that differs from the file's (`Private_Dirty` and
/// `Anonymous` both 0: RELRO data the loader relocated is dirty and stays).
fn clean_file_regions(smaps: &str) -> Vec<(usize, usize)> {
    let mut regions = Vec::new();
    // The mapping being read, while it may still be dropped.
    let mut candidate = None;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let Some(range) = mapping_range(&fields) {
            regions.extend(candidate.take());
            let read_only = matches!(fields.get(1), Some(&"r--p" | &"r-xp"));
            let from_file = fields.get(4).is_some_and(|inode| *inode != "0")
                && fields.get(5).is_some_and(|path| path.starts_with('/'));
            candidate = (read_only && from_file).then_some(range);
        } else if let ["Private_Dirty:" | "Anonymous:", kb, ..] = fields.as_slice()
            && *kb != "0"
        {
            candidate = None;
        }
    }
    regions.extend(candidate);
    regions
}

/// The address range of an smaps header line (`start-end perms offset dev inode path`).
fn mapping_range(fields: &[&str]) -> Option<(usize, usize)> {
    let (start, end) = fields.first()?.split_once('-')?;
    let range = (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
    (range.0 < range.1).then_some(range)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::clean_file_regions;

    const SMAPS: &str = "\
55d0a000-55d0b000 r--p 00000000 fe:00 1001   /usr/bin/keystone-rs
Size:                  4 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
55d0b000-55d0f000 r-xp 00001000 fe:00 1001   /usr/bin/keystone-rs
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0f000-55d10000 r--p 00005000 fe:00 1001   /usr/bin/keystone-rs
Private_Dirty:         4 kB
Anonymous:             4 kB
55d10000-55d11000 rw-p 00006000 fe:00 1001   /usr/bin/keystone-rs
Private_Dirty:         4 kB
Anonymous:             0 kB
7f00000000-7f00001000 r--p 00000000 00:00 0
Private_Dirty:         0 kB
Anonymous:             0 kB
7f00001000-7f00002000 r-xp 00000000 fe:00 2002   /usr/lib/libc.so.6 (deleted)
Private_Dirty:         0 kB
Anonymous:             0 kB
7ffc0000-7ffc1000 r-xp 00000000 00:00 0   [vdso]
Private_Dirty:         0 kB
Anonymous:             0 kB
7f00003000-7f00004000 r--p 00010000 fe:00 2003   /usr/lib/libm.so.6
Private_Dirty:         0 kB
Anonymous:             8 kB
";

    #[test]
    fn only_clean_read_only_file_mappings_are_dropped() {
        assert_eq!(
            clean_file_regions(SMAPS),
            vec![(0x55d0a000, 0x55d0b000), (0x55d0b000, 0x55d0f000), (0x7f00001000, 0x7f00002000)],
            "the binary's code and first read-only segment and libc's code; not relocated \
             RELRO data, writable data, anonymous or special mappings, or a page made private"
        );
    }

    /// After every clean page is dropped, code and read-only data are mapped back on use and
    /// the process works as before.
    #[test]
    fn code_and_data_used_after_the_drop_work_as_before() {
        let before = crate::cli::Cli::try_parse_from(["keystone-rs", "check", "site"]);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        assert!(!clean_file_regions(&smaps).is_empty(), "this test binary has clean code pages");
        super::drop_clean_file_pages();
        let after = crate::cli::Cli::try_parse_from(["keystone-rs", "check", "site"]);
        assert_eq!(format!("{before:?}"), format!("{after:?}"));
        assert!(after.is_ok());
    }
}
