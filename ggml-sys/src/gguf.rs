use std::ffi::CStr;
use std::marker::PhantomData;
use std::path::Path;

use crate::error::{c_path, c_string, ErrorBuffer, GgmlError};
use crate::raw;
use crate::types::GgmlType;

/// One tensor's header in a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub ty: GgmlType,
    /// Dimensions in GGML order (`ne[0]` is the row length).
    pub shape: Vec<i64>,
    /// Absolute position of the data in the file, and its length.
    pub offset: u64,
    pub nbytes: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.shape.iter().product::<i64>() as usize
    }
    pub fn row_len(&self) -> usize {
        self.shape[0] as usize
    }
}

/// A GGUF file parsed by GGML (metadata only), with every tensor's data range checked to lie
/// inside the file.
pub struct GgufFile {
    ptr: *mut raw::lofi_gguf,
    tensors: Vec<TensorInfo>,
}

// SAFETY: the handle is only read after opening; the C side keeps no thread-bound state.
unsafe impl Send for GgufFile {}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self, GgmlError> {
        let c_path = c_path(path)?;
        let mut err = ErrorBuffer::new();
        // SAFETY: valid C string and error buffer.
        let ptr = unsafe { raw::lofi_gguf_open(c_path.as_ptr(), err.ptr(), err.capacity()) };
        if ptr.is_null() {
            return Err(err.into_error());
        }
        let count = unsafe { raw::lofi_gguf_tensor_count(ptr) };
        let tensors = (0..count)
            .map(|index| {
                let mut info = std::mem::MaybeUninit::<raw::lofi_tensor_info>::zeroed();
                // SAFETY: index in range; the name pointer lives as long as the handle.
                unsafe {
                    raw::lofi_gguf_tensor_info(ptr, index, info.as_mut_ptr());
                    let info = info.assume_init();
                    TensorInfo {
                        name: CStr::from_ptr(info.name).to_string_lossy().into_owned(),
                        ty: GgmlType(info.type_),
                        shape: info.ne[..info.n_dims as usize].to_vec(),
                        offset: info.offset,
                        nbytes: info.nbytes,
                    }
                }
            })
            .collect();
        Ok(Self { ptr, tensors })
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The raw bytes of tensor `index` (in [`Self::tensors`] order).
    pub fn read_tensor(&self, index: usize) -> Result<Vec<u8>, GgmlError> {
        let info = self
            .tensors
            .get(index)
            .ok_or_else(|| GgmlError(format!("no tensor #{index}")))?;
        let mut data = vec![0u8; info.nbytes as usize];
        let mut err = ErrorBuffer::new();
        // SAFETY: data holds nbytes.
        let ok = unsafe {
            raw::lofi_gguf_read_tensor(
                self.ptr,
                index as i64,
                data.as_mut_ptr().cast(),
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok).map(|()| data)
    }

    /// The file's metadata keys.
    pub fn metadata(&self) -> GgufMetadata<'_> {
        GgufMetadata {
            ptr: self.ptr,
            _owner: PhantomData,
        }
    }

    /// The C handle, for the C API's functions that read an open file.
    pub fn as_raw(&self) -> *const raw::lofi_gguf {
        self.ptr
    }
}

/// Read access to an open GGUF's metadata keys, as long as its owner (a [`GgufFile`], or a
/// loaded model that keeps its file open) lives.
#[derive(Clone, Copy)]
pub struct GgufMetadata<'a> {
    ptr: *const raw::lofi_gguf,
    _owner: PhantomData<&'a ()>,
}

impl GgufMetadata<'_> {
    /// The metadata of a file the C side keeps open.
    ///
    /// # Safety
    /// `ptr` is a valid `lofi_gguf` handle that stays open for the chosen lifetime.
    pub unsafe fn from_raw(ptr: *const raw::lofi_gguf) -> Self {
        Self {
            ptr,
            _owner: PhantomData,
        }
    }

    /// A string array's elements, None if absent or of another type.
    pub fn string_array(&self, key: &str) -> Option<Vec<String>> {
        let key = c_string(key).ok()?;
        // SAFETY: pointers returned live as long as the handle; copied at once.
        let len = unsafe { raw::lofi_gguf_array_len(self.ptr, key.as_ptr()) };
        (0..len)
            .map(|i| {
                let s = unsafe { raw::lofi_gguf_array_string(self.ptr, key.as_ptr(), i) };
                (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
            })
            .collect()
    }

    /// An f32 array's elements, None if absent or of another type.
    pub fn f32_array(&self, key: &str) -> Option<Vec<f32>> {
        let key = c_string(key).ok()?;
        let len = unsafe { raw::lofi_gguf_array_len(self.ptr, key.as_ptr()) };
        let mut out = vec![0f32; len];
        // SAFETY: out holds len floats.
        unsafe { raw::lofi_gguf_array_f32(self.ptr, key.as_ptr(), out.as_mut_ptr(), len) }.then_some(out)
    }

    /// A u8 array's bytes, None if absent or of another type.
    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        let key = c_string(key).ok()?;
        // SAFETY: the data holds array_len bytes while the handle lives; copied at once.
        let data = unsafe { raw::lofi_gguf_array_u8(self.ptr, key.as_ptr()) };
        let len = unsafe { raw::lofi_gguf_array_len(self.ptr, key.as_ptr()) };
        (!data.is_null()).then(|| unsafe { std::slice::from_raw_parts(data, len) }.to_vec())
    }

    /// An unsigned integer metadata value.
    pub fn get_u32(&self, key: &str) -> Option<u32> {
        let key = c_string(key).ok()?;
        let mut value = 0;
        // SAFETY: valid handle, key and output.
        unsafe { raw::lofi_gguf_get_u32(self.ptr, key.as_ptr(), &mut value) }.then_some(value)
    }

    /// A string metadata value.
    pub fn get_string(&self, key: &str) -> Option<String> {
        let key = c_string(key).ok()?;
        // SAFETY: the returned pointer lives as long as the handle; copied at once.
        let value = unsafe { raw::lofi_gguf_get_string(self.ptr, key.as_ptr()) };
        (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_string_lossy().into_owned())
    }
}

impl Drop for GgufFile {
    fn drop(&mut self) {
        // SAFETY: opened by lofi_gguf_open, closed once.
        unsafe { raw::lofi_gguf_close(self.ptr) }
    }
}

/// A new GGUF file carrying another file's metadata, filled tensor by tensor.
pub struct GgufWriter {
    ptr: *mut raw::lofi_gguf_writer,
}

impl GgufWriter {
    /// Starts from a copy of every key/value of `metadata_from`.
    pub fn new(metadata_from: &GgufFile) -> Self {
        // SAFETY: a valid open file.
        Self {
            ptr: unsafe { raw::lofi_gguf_writer_new(metadata_from.ptr) },
        }
    }

    pub fn set_u32(&mut self, key: &str, value: u32) -> Result<(), GgmlError> {
        let key = c_string(key)?;
        // SAFETY: valid handle and C string.
        unsafe { raw::lofi_gguf_writer_set_u32(self.ptr, key.as_ptr(), value) };
        Ok(())
    }

    /// Adds a tensor of `shape` (GGML order) stored as `ty`; `data` must be exactly its bytes.
    pub fn add_tensor(&mut self, name: &str, ty: GgmlType, shape: &[i64], data: &[u8]) -> Result<(), GgmlError> {
        let c_name = c_string(name)?;
        let mut err = ErrorBuffer::new();
        // SAFETY: shape has n_dims entries; data is copied by the C side.
        let ok = unsafe {
            raw::lofi_gguf_writer_add_tensor(
                self.ptr,
                c_name.as_ptr(),
                ty.0,
                shape.len() as i32,
                shape.as_ptr(),
                data.as_ptr().cast(),
                data.len(),
                err.ptr(),
                err.capacity(),
            )
        };
        err.check(ok)
    }

    /// Writes the file at `path` (callers write to a temporary name and rename).
    pub fn write(&self, path: &Path) -> Result<(), GgmlError> {
        let c_path = c_path(path)?;
        let mut err = ErrorBuffer::new();
        // SAFETY: valid handle, path and buffer.
        let ok = unsafe { raw::lofi_gguf_writer_write(self.ptr, c_path.as_ptr(), err.ptr(), err.capacity()) };
        err.check(ok)
    }
}

impl Drop for GgufWriter {
    fn drop(&mut self) {
        // SAFETY: created by lofi_gguf_writer_new, freed once.
        unsafe { raw::lofi_gguf_writer_free(self.ptr) }
    }
}
