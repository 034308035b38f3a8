//! The allocator and the process's memory: giving freed memory back to the
//! system after the large, short-lived allocations of loading a model, the
//! library's vectors or an index update (glibc keeps freed heap memory
//! mapped; the process would stay at its peak), and reading the resident
//! memory the benchmarks and debug logs report.

/// Allocations from this size up are mapped directly and unmapped when freed.
const MMAP_THRESHOLD: usize = 4 << 20;

/// Sets the allocator for a long-running process that loads large weights
/// once and then serves many short requests (glibc; a no-op elsewhere).
///
/// glibc raises its mmap threshold each time a mapped block is freed, up to
/// 32 MB: after the first large load (a model's weights, the library's
/// vectors), blocks of several megabytes (prompt activations, Arrow batches)
/// come from the heap arenas instead, and long-lived allocations land between
/// them, so the freed space stays resident. A fixed 4 MB threshold keeps
/// those blocks out of the arenas: 45 MB less resident after an answer over a
/// 100k-chunk library (BENCHMARKS.md). Blocks up to 4 MB (a layer's
/// activations) are still reused from the arenas, not mapped per use.
///
/// At most [`ARENAS`] arenas: glibc gives each thread that meets contention
/// an arena of its own (up to 8 per core), and memory freed in one arena
/// serves only that arena's threads. An import's end (the table's merge, the
/// full-text index's, the searches beside them, each on its own threads)
/// held ~300 MB free but resident across arenas at its peak; with two the
/// peak fell by ~130 MB at the same throughput (BENCHMARKS.md, 2026-12-07
/// afternoon).
pub fn configure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes the allocator's parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    });
}

/// Heap arenas (see [`configure`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Returns the allocator's free memory to the system where it can (glibc's
/// `malloc_trim`); a no-op elsewhere.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only inspects and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The allocator's view, in bytes: `(in use, free but held, mapped directly)`
/// (glibc's `mallinfo2`; `None` elsewhere). Benchmarks report it by stage.
pub fn allocator_bytes() -> Option<(u64, u64, u64)> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        let m = unsafe { libc::mallinfo2() };
        Some((m.uordblks as u64, m.fordblks as u64, m.hblkhd as u64))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// A memory field (`VmHWM`, `VmRSS`, in kB) of a process's `/proc/<pid>/status`, in bytes.
pub(crate) fn status_bytes(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("self", "VmHWM")
}

/// Current resident memory (Linux `VmRSS`), in bytes.
pub fn rss_bytes() -> Option<u64> {
    status_bytes("self", "VmRSS")
}

/// Element types a [`Zeroed`] buffer may hold: all-zero bytes are a valid value.
pub(crate) trait ZeroIsValid: Copy {}
impl ZeroIsValid for u16 {}
impl ZeroIsValid for f32 {}

/// A zero-filled buffer whose pages become resident only when written:
/// mapped directly from the system (Linux), not carved from the heap, where a
/// zeroed allocation may reuse freed memory and be filled with zeros at once.
/// Preallocated caches sized for a whole context (the key/value cache) then
/// cost memory only for the positions used.
pub(crate) struct Zeroed<T: ZeroIsValid> {
    ptr: std::ptr::NonNull<T>,
    len: usize,
    /// Not mapped (another system, or the mapping failed): a plain vector.
    fallback: Vec<T>,
}

// SAFETY: the buffer is owned memory like a Vec's; access goes through &/&mut.
unsafe impl<T: ZeroIsValid + Send> Send for Zeroed<T> {}
// SAFETY: shared access only reads.
unsafe impl<T: ZeroIsValid + Sync> Sync for Zeroed<T> {}

impl<T: ZeroIsValid> Zeroed<T> {
    pub fn new(len: usize) -> Self {
        #[cfg(target_os = "linux")]
        {
            let bytes = len.saturating_mul(std::mem::size_of::<T>());
            if bytes > 0 && len.checked_mul(std::mem::size_of::<T>()).is_some() {
                // SAFETY: a fresh private anonymous mapping; checked for failure.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        bytes,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                if p != libc::MAP_FAILED {
                    if let Some(ptr) = std::ptr::NonNull::new(p as *mut T) {
                        return Zeroed {
                            ptr,
                            len,
                            fallback: Vec::new(),
                        };
                    }
                }
            }
        }
        let mut fallback = vec![unsafe_zero::<T>(); len];
        let ptr =
            std::ptr::NonNull::new(fallback.as_mut_ptr()).unwrap_or(std::ptr::NonNull::dangling());
        Zeroed { ptr, len, fallback }
    }

    fn mapped(&self) -> bool {
        self.fallback.is_empty() && self.len > 0
    }
}

/// The all-zero value of `T`.
fn unsafe_zero<T: ZeroIsValid>() -> T {
    // SAFETY: ZeroIsValid types are plain numbers, for which all-zero bytes are a value.
    unsafe { std::mem::zeroed() }
}

impl<T: ZeroIsValid> std::ops::Deref for Zeroed<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        if self.mapped() {
            // SAFETY: ptr maps len elements, zero-initialised by the system.
            unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
        } else {
            &self.fallback
        }
    }
}

impl<T: ZeroIsValid> std::ops::DerefMut for Zeroed<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        if self.mapped() {
            // SAFETY: as in deref, and &mut self makes the access exclusive.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
        } else {
            &mut self.fallback
        }
    }
}

impl<T: ZeroIsValid> Drop for Zeroed<T> {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if self.mapped() {
            // SAFETY: unmaps exactly the mapping made in `new`.
            unsafe {
                libc::munmap(
                    self.ptr.as_ptr() as *mut libc::c_void,
                    self.len * std::mem::size_of::<T>(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zeroed_buffer_reads_zeros_and_keeps_writes() {
        for len in [0usize, 1, 4097, 1 << 20] {
            let mut b = Zeroed::<f32>::new(len);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&x| x == 0.0));
            if len > 1 {
                b[len - 1] = 2.5;
                b[0] = 1.0;
                assert_eq!((b[0], b[1], b[len - 1]), (1.0, 0.0, 2.5));
            }
        }
    }
}
