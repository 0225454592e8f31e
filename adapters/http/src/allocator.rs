//! Handing free memory back to the system. glibc's malloc keeps what is freed in its arenas
//! for reuse: after a burst (hundreds of stalled request bodies) the process kept hundreds
//! of MiB that nothing used any more, until `malloc_trim` returned them.

/// Asks malloc to return its free memory to the system, off the async workers when there
/// are some (it walks every arena). Nothing to do on other C libraries.
pub fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        fn trim() {
            // SAFETY: malloc_trim takes no pointer and locks each arena it walks; any thread
            // may call it at any time.
            unsafe {
                malloc_trim(0);
            }
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(trim)),
            Err(_) => trim(),
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    fn malloc_trim(pad: usize) -> std::ffi::c_int;
}
