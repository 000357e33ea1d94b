//! The server's memory allocator: mimalloc, with each thread's freed small blocks handed to its
//! next allocation of the same size class, last freed first.
//!
//! mimalloc hands out a page's free blocks in order and reuses the blocks freed on it only once
//! it has handed out the others, so a request's allocations walk through fresh memory; glibc
//! reuses the last block freed but spends 20,000 more instructions per request doing it. This
//! keeps mimalloc behind a stack per size class up to 8 KiB (16 bytes apart up to 512, then
//! four per doubling), at most [`SHELF_BYTES`] or 4 blocks each, in a thread local; what does
//! not fit, and every larger or over-aligned block, goes to mimalloc as before. Issue 11, by
//! callgrind: 3-4% fewer instructions on every path (GET / with a session 88,778 -> 85,445).
//! The L2 misses of callgrind's cache model did not fall with it: they come from the
//! request's whole footprint of code and data, not from the allocator (README, Benchmarks).
//!
//! A block of class `c` is always allocated from mimalloc at the class's full size, so any
//! request of that class fits it, whichever thread frees it. A thread's shelves go back to
//! mimalloc when the thread ends; while its thread-local storage is being torn down the
//! allocator calls mimalloc directly.
use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ffi::c_void;

use libmimalloc_sys::{mi_free, mi_malloc_aligned, mi_realloc_aligned, mi_zalloc_aligned};

/// Blocks up to [`FINE`] bytes come in classes this many bytes apart, and are this aligned
/// (mimalloc's own alignment).
const GRAIN: usize = 16;
const FINE: usize = 512;
/// Above [`FINE`], four classes per doubling up to this size (a rendered page's buffer grows
/// through them as it doubles).
const LARGEST: usize = 8192;
const FINE_CLASSES: usize = FINE / GRAIN;
const CLASSES: usize = FINE_CLASSES + 4 * (LARGEST.trailing_zeros() - FINE.trailing_zeros()) as usize;
/// At most this many bytes of free blocks per size class and thread, at least 4 blocks and
/// at most 64: about 330 KiB per thread if every class were full, and a request's churn fits.
const SHELF_BYTES: usize = 4096;

/// mimalloc, with recently freed small blocks reused first (see the module's text).
pub struct Recycling;

/// One size class's free blocks: a stack threaded through the blocks themselves.
#[derive(Clone, Copy)]
struct Shelf {
    top: *mut u8,
    len: u32,
}

struct Shelves([Shelf; CLASSES]);

impl Drop for Shelves {
    fn drop(&mut self) {
        self.release();
    }
}

impl Shelves {
    /// Hands every block back to mimalloc.
    fn release(&mut self) {
        for shelf in &mut self.0 {
            while let Some(block) = shelf.pop() {
                // SAFETY: every block on a shelf came from mimalloc and is owned by the shelf.
                unsafe { mi_free(block.cast::<c_void>()) };
            }
        }
    }
}

impl Shelf {
    fn pop(&mut self) -> Option<*mut u8> {
        if self.top.is_null() {
            return None;
        }
        let block = self.top;
        // SAFETY: a block on the shelf holds the next block's address in its first bytes
        // (`push`), and every class is at least GRAIN bytes and GRAIN-aligned.
        self.top = unsafe { block.cast::<*mut u8>().read() };
        self.len -= 1;
        Some(block)
    }

    /// Keeps `block` unless the shelf is full; says whether it did.
    fn push(&mut self, block: *mut u8, capacity: u32) -> bool {
        if self.len >= capacity {
            return false;
        }
        // SAFETY: the block is free, at least GRAIN bytes and GRAIN-aligned (see `pop`).
        unsafe { block.cast::<*mut u8>().write(self.top) };
        self.top = block;
        self.len += 1;
        true
    }
}

thread_local! {
    static SHELVES: UnsafeCell<Shelves> =
        const { UnsafeCell::new(Shelves([Shelf { top: std::ptr::null_mut(), len: 0 }; CLASSES])) };
}

/// The size class of blocks of `layout`, if they are kept on shelves.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size > LARGEST || layout.align() > GRAIN {
        return None;
    }
    if size <= FINE {
        return Some(size.max(1).div_ceil(GRAIN) - 1);
    }
    // 2^(bits-1) < size <= 2^bits, in quarters of 2^(bits-1).
    let bits = usize::BITS - (size - 1).leading_zeros();
    let quarter = 1usize << (bits - 3);
    let step = (size - (1usize << (bits - 1))).div_ceil(quarter);
    Some(FINE_CLASSES + 4 * (bits - FINE.trailing_zeros() - 1) as usize + step - 1)
}

/// The size of every block of `class`.
const fn class_size(class: usize) -> usize {
    if class < FINE_CLASSES {
        return (class + 1) * GRAIN;
    }
    let bits = FINE.trailing_zeros() as usize + 1 + (class - FINE_CLASSES) / 4;
    (1 << (bits - 1)) + ((class - FINE_CLASSES) % 4 + 1) * (1 << (bits - 3))
}

/// Each class's size and how many of its blocks a shelf keeps, looked up on every allocation.
const SIZES: [usize; CLASSES] = {
    let mut sizes = [0; CLASSES];
    let mut class = 0;
    while class < CLASSES {
        sizes[class] = class_size(class);
        class += 1;
    }
    sizes
};
const CAPACITIES: [u32; CLASSES] = {
    let mut capacities = [0; CLASSES];
    let mut class = 0;
    while class < CLASSES {
        let blocks = SHELF_BYTES / class_size(class);
        capacities[class] = if blocks < 4 {
            4
        } else if blocks > 64 {
            64
        } else {
            blocks as u32
        };
        class += 1;
    }
    capacities
};

/// A block of `class` from this thread's shelf, or from mimalloc at the class's full size.
fn take(class: usize) -> *mut u8 {
    // SAFETY: the shelves are this thread's own, and nothing below allocates, so no other
    // access to them is live.
    let recycled = SHELVES.try_with(|shelves| unsafe { (*shelves.get()).0[class].pop() });
    match recycled {
        Ok(Some(block)) => block,
        // SAFETY: a valid size and a power-of-two alignment.
        _ => unsafe { mi_malloc_aligned(SIZES[class], GRAIN).cast() },
    }
}

/// Puts a free block of `class` on this thread's shelf, or back to mimalloc.
///
/// # Safety
/// `block` came from [`take`] with the same class and is no longer used.
unsafe fn give_back(block: *mut u8, class: usize) {
    // SAFETY: as in `take`.
    let kept = SHELVES.try_with(|shelves| unsafe { (*shelves.get()).0[class].push(block, CAPACITIES[class]) });
    if !kept.unwrap_or(false) {
        // SAFETY: the block came from mimalloc (the caller's promise).
        unsafe { mi_free(block.cast()) };
    }
}

/// Hands the calling thread's shelved blocks back to mimalloc: for a thread about to wait for
/// a long time (the main thread once the server is up), so they count towards nothing.
pub fn release_this_threads_blocks() {
    // SAFETY: as in `take`; `release` only frees.
    let _ = SHELVES.try_with(|shelves| unsafe { (*shelves.get()).release() });
}

// SAFETY: every block handed out is at least the layout's size and alignment and stays valid
// until given back; shelved blocks are used by their own thread only.
unsafe impl GlobalAlloc for Recycling {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            Some(class) => take(class),
            // SAFETY: the layout's size and power-of-two alignment.
            None => unsafe { mi_malloc_aligned(layout.size(), layout.align()).cast() },
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            Some(class) => {
                let block = take(class);
                if !block.is_null() {
                    // SAFETY: the block has at least layout.size() bytes.
                    unsafe { block.write_bytes(0, layout.size()) };
                }
                block
            }
            // SAFETY: as in `alloc`.
            None => unsafe { mi_zalloc_aligned(layout.size(), layout.align()).cast() },
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class_of(layout) {
            // SAFETY: a block of this layout's class came from `take` (GlobalAlloc's contract:
            // the same layout it was allocated with).
            Some(class) => unsafe { give_back(ptr, class) },
            // SAFETY: the block came from mimalloc.
            None => unsafe { mi_free(ptr.cast()) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: new_size, rounded up to the alignment, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // SAFETY: a block from mimalloc, resized by mimalloc.
            (None, None) => unsafe { mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast() },
            (Some(old), Some(new)) if old == new => ptr,
            _ => {
                // SAFETY: a layout GlobalAlloc accepts; both blocks hold the bytes copied.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn a_freed_small_block_is_the_next_one_of_its_class_on_the_same_thread() {
        let a = unsafe { Recycling.alloc(layout(40, 8)) };
        unsafe { Recycling.dealloc(a, layout(40, 8)) };
        // 33..=48 bytes share a class: the block just freed comes back, warm.
        let b = unsafe { Recycling.alloc(layout(48, 16)) };
        assert_eq!(a, b);
        assert_eq!(b as usize % GRAIN, 0);
        unsafe { b.write_bytes(0xAB, 48) };
        unsafe { Recycling.dealloc(b, layout(48, 16)) };
    }

    #[test]
    fn every_size_gets_the_smallest_class_that_holds_it() {
        let mut last = 0;
        for size in 0..=LARGEST {
            let class = class_of(layout(size, 1)).unwrap();
            let fits = class_size(class);
            assert!(fits >= size && fits.is_multiple_of(GRAIN), "{size} bytes in class {class} of {fits}");
            assert!(class == 0 || class_size(class - 1) < size.max(1), "{size} bytes would fit class {}", class - 1);
            assert!(class >= last);
            last = class;
        }
        assert_eq!(last, CLASSES - 1);
        assert_eq!(class_size(class_of(layout(2309, 1)).unwrap()), 2560);
    }

    #[test]
    fn large_and_over_aligned_blocks_bypass_the_shelves() {
        assert_eq!(class_of(layout(LARGEST + 1, 8)), None);
        assert_eq!(class_of(layout(64, 32)), None);
        assert_eq!(class_of(layout(0, 1)), Some(0));
        assert_eq!(class_of(layout(16, 16)), Some(0));
        assert_eq!(class_of(layout(17, 1)), Some(1));
        assert_eq!(class_of(layout(512, 8)), Some(FINE_CLASSES - 1));
        assert_eq!(class_of(layout(8192, 8)), Some(CLASSES - 1));
        let big = unsafe { Recycling.alloc(layout(4096, 64)) };
        assert_eq!(big as usize % 64, 0);
        unsafe { Recycling.dealloc(big, layout(4096, 64)) };
    }

    #[test]
    fn a_shelf_keeps_at_most_its_capacity_and_gives_the_rest_to_mimalloc() {
        let class = class_of(layout(500, 8)).unwrap();
        let many = CAPACITIES[class] as usize + 10;
        let blocks: Vec<_> = (0..many).map(|_| unsafe { Recycling.alloc(layout(500, 8)) }).collect();
        for &block in &blocks {
            unsafe { Recycling.dealloc(block, layout(500, 8)) };
        }
        let kept = SHELVES.with(|s| unsafe { (*s.get()).0[class].len });
        assert_eq!(kept, CAPACITIES[class]);
        release_this_threads_blocks();
        assert_eq!(SHELVES.with(|s| unsafe { (*s.get()).0[class].len }), 0);
    }

    #[test]
    fn realloc_keeps_the_bytes_across_classes_and_into_and_out_of_mimalloc() {
        let mut size = 1;
        let mut block = unsafe { Recycling.alloc(layout(size, 1)) };
        unsafe { block.write(7) };
        for new_size in [15, 16, 17, 200, 512, 513, 5000, 9000, 20000, 8192, 300, 3] {
            block = unsafe { Recycling.realloc(block, layout(size, 1), new_size) };
            assert!(!block.is_null());
            assert_eq!(unsafe { block.read() }, 7, "after growing or shrinking to {new_size}");
            unsafe { block.add(new_size - 1).write(9) };
            size = new_size;
        }
        let zeroed = unsafe { Recycling.alloc_zeroed(layout(100, 8)) };
        assert!((0..100).all(|i| unsafe { zeroed.add(i).read() } == 0));
        unsafe { Recycling.dealloc(zeroed, layout(100, 8)) };
        unsafe { Recycling.dealloc(block, layout(size, 1)) };
    }

    #[test]
    fn blocks_freed_on_another_thread_are_reused_there() {
        let blocks: Vec<usize> = (0..20).map(|_| unsafe { Recycling.alloc(layout(64, 8)) } as usize).collect();
        let reused = std::thread::spawn(move || {
            for &block in &blocks {
                unsafe { Recycling.dealloc(block as *mut u8, layout(64, 8)) };
            }
            let again = unsafe { Recycling.alloc(layout(64, 8)) } as usize;
            unsafe { Recycling.dealloc(again as *mut u8, layout(64, 8)) };
            blocks.contains(&again)
        })
        .join()
        .unwrap();
        assert!(reused);
    }
}
