//! Arrays and strings libvirt hands over through `virt-sys`, owned so they are freed
//! exactly once, as libvirt documents, whatever path the caller takes.
#![allow(unsafe_code)] // FFI module: one of the few allowed `unsafe` (Cargo.toml [lints]).
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, CStr};

/// An array of `len` element pointers that libvirt allocated for us (DHCP leases, guest
/// interfaces): each element is freed with its own free function, then the array with
/// `free()`. Dropping it does both.
pub(super) struct OwnedArray<T> {
    ptr: *mut *mut T,
    len: usize,
    free_element: unsafe extern "C" fn(*mut T),
}

impl<T> OwnedArray<T> {
    /// # Safety
    /// `ptr` is NULL, or an array libvirt allocated with `malloc` holding at least `len`
    /// element pointers, each NULL or valid and owned by the caller, to be released with
    /// `free_element`. Ownership of the array and its elements passes to the result.
    pub(super) unsafe fn new(
        ptr: *mut *mut T,
        len: usize,
        free_element: unsafe extern "C" fn(*mut T),
    ) -> Self {
        OwnedArray {
            ptr,
            len,
            free_element,
        }
    }

    /// The elements, borrowed for as long as the array lives.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len).filter_map(move |i| {
            if self.ptr.is_null() {
                return None;
            }
            // SAFETY: `i < len`, inside the array (`new`'s contract).
            let element = unsafe { *self.ptr.add(i) };
            // SAFETY: NULL or a valid element we own until drop (`new`'s contract).
            unsafe { element.as_ref() }
        })
    }
}

impl<T> Drop for OwnedArray<T> {
    fn drop(&mut self) {
        if self.ptr.is_null() {
            return;
        }
        for i in 0..self.len {
            // SAFETY: `i < len`, inside the array.
            let element = unsafe { *self.ptr.add(i) };
            if !element.is_null() {
                // SAFETY: an element we own, freed once with the function libvirt names.
                unsafe { (self.free_element)(element) };
            }
        }
        // SAFETY: the array itself, malloc'ed by libvirt and owned by us, freed once.
        unsafe { nix::libc::free(self.ptr.cast()) };
    }
}

/// Copies a string libvirt lends us; `None` when NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
pub(super) unsafe fn opt_string(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL, so NUL-terminated and valid (caller).
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
