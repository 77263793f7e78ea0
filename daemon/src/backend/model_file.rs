//! Whether the model file under a loaded model was written over. The model reads much of its
//! weights from a mapping of the file (README, Memory): a file written over in place (`cp` onto
//! it) changes those weights under a generation, and one cut shorter takes pages from under the
//! mapping, which kills the process (SIGBUS) when they are read. A file replaced by a rename, or
//! deleted, leaves the mapping whole: the loaded model goes on from the old file.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The file a model was loaded from, as it was then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    device: u64,
    inode: u64,
    len: u64,
    modified_ns: i128,
}

impl FileStamp {
    /// The file at `path` now (None: it cannot be read).
    pub fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }

    /// Whether the same file (device and inode) at `path` changed since: its length or its
    /// modification time.
    pub fn written_over(&self, path: &Path) -> bool {
        FileStamp::of(path).is_some_and(|now| now.device == self.device && now.inode == self.inode && now != *self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_in_place_is_written_over_one_renamed_over_or_deleted_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, b"GGUF weights").unwrap();
        let stamp = FileStamp::of(&path).unwrap();
        assert!(!stamp.written_over(&path), "unchanged");
        std::fs::write(&path, b"GGUF").unwrap(); // truncated and written: the same inode
        assert!(stamp.written_over(&path));

        let stamp = FileStamp::of(&path).unwrap();
        let other = dir.path().join("new.gguf");
        std::fs::write(&other, b"GGUF other weights").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(
            !stamp.written_over(&path),
            "renamed over: the old inode stays mapped whole"
        );
        let stamp = FileStamp::of(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(!stamp.written_over(&path), "deleted");
    }
}
