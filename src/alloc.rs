//! The binary's memory allocator: mimalloc, tuned for a long-running sync.
//!
//! Why not glibc malloc: a sync builds and drops a JSON tree per record,
//! and glibc spent about a quarter of the hub's CPU in malloc and free.
//! mimalloc's defaults keep freed pages for a while and ask for
//! transparent huge pages, which held a 100,000-ticket sync at 145 MB;
//! returning pages at once and no huge pages holds it near 70 MB at about
//! the same speed (see README "Performance").

use libmimalloc_sys as mi;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_purge_delay` (its header's enum order; the crate
/// has no constant for it). The test below checks it by its default, 1,000 ms
/// (options.c; the header's comment still says 10).
const PURGE_DELAY: mi::mi_option_t = 15;

/// Called first thing in `main`: freed memory goes back to the OS at once
/// (`purge_delay` 0) instead of a second later, by when the next pages
/// have taken more. Huge pages are off at build time (the `no_thp` feature).
/// An operator's `MIMALLOC_PURGE_DELAY` wins: a delay of 100 ms trades
/// about 15 MB more peak memory for about 5% less CPU in a sync.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets a plain integer option; mimalloc reads it at each purge.
    unsafe { mi::mi_option_set(PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_tuned() {
        // SAFETY: reads an option.
        let default = unsafe { mi::mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(
                default, 1_000,
                "option {PURGE_DELAY} is not purge_delay (default 1,000 ms)"
            );
        }
        tune();
        assert_eq!(unsafe { mi::mi_option_get(PURGE_DELAY) }, 0);
    }
}
