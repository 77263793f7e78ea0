//! Opening files in a directory other users or processes may have tampered with: never
//! through a symlink, and never anything but a regular file, so a FIFO or a device named
//! like a cache file cannot block the daemon (opening a FIFO waits for its other end).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` for reading (or, with `write`, for writing, creating it 0600 if missing),
/// refusing symlinks and non-regular files without blocking on them.
pub fn open_regular(path: &Path, write: bool) -> io::Result<File> {
    // Checked before opening too: opening a FIFO for writing fails with ENXIO, which says nothing.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => return Err(not_regular()),
        _ => {}
    }
    let mut options = OpenOptions::new();
    if write {
        options.write(true).create(true).truncate(false).mode(0o600);
    } else {
        options.read(true);
    }
    // O_NONBLOCK makes opening a FIFO return at once; it means nothing for regular files.
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    // And after: the file may have been swapped in between.
    if !file.metadata()?.file_type().is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// Callers name the path.
fn not_regular() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_symlinks_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("0123abcd.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(open_regular(&fifo, false).is_err());
        assert!(open_regular(&fifo, true).is_err());

        let target = dir.path().join("target");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_regular(&link, false).is_err());
        assert!(open_regular(&target, false).is_ok());
    }
}
