use std::ffi::{c_char, CStr, CString};
use std::path::Path;

/// A failure reported by the C side, as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GgmlError(pub String);

/// A buffer the C API writes its one-line reason into.
pub struct ErrorBuffer([c_char; 512]);

impl Default for ErrorBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorBuffer {
    pub fn new() -> Self {
        Self([0; 512])
    }
    pub fn ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr()
    }
    pub fn capacity(&self) -> usize {
        self.0.len()
    }
    /// Ok when the C call succeeded, else the reason it wrote.
    pub fn check(self, ok: bool) -> Result<(), GgmlError> {
        if ok {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    pub fn into_error(self) -> GgmlError {
        // SAFETY: the C side always NUL-terminates within the buffer (and it starts zeroed).
        let text = unsafe { CStr::from_ptr(self.0.as_ptr()) };
        GgmlError(text.to_string_lossy().into_owned())
    }
}

pub fn c_path(path: &Path) -> Result<CString, GgmlError> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| GgmlError(format!("path {} contains a NUL byte", path.display())))
}

pub fn c_string(text: &str) -> Result<CString, GgmlError> {
    CString::new(text).map_err(|_| GgmlError(format!("{text:?} contains a NUL byte")))
}
