//! The one place that maps files into memory.

#![allow(unsafe_code)]

use std::fs::File;

pub(crate) use memmap2::Mmap;

/// Maps a whole read-only block file.
pub(crate) fn map_readonly(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: block files are immutable once renamed into place: the engine never writes, truncates
    // or renames a block file it has mapped (quarantine and deletion only unlink the name, which
    // keeps the mapped inode alive). A third party modifying our data directory behind our back
    // is outside what any storage engine can protect against; checksums catch it at open.
    unsafe { Mmap::map(file) }
}
