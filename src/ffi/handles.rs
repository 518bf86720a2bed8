//! The registry of live handles, the last error of each thread, and the guard every
//! entry point runs in (panics caught, errors turned into a status and a message).

use super::any::AnyModel;
use super::{SepconvModel, SepconvStatus};
use crate::Error;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Model,
    Workspace,
}

/// Addresses of the live handles: lets every call refuse freed and foreign pointers.
pub(super) static LIVE: Mutex<Option<HashMap<usize, Kind>>> = Mutex::new(None);

thread_local! {
    pub(super) static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(super) fn live() -> MutexGuard<'static, Option<HashMap<usize, Kind>>> {
    // The map stays consistent even if a holder panicked: each operation is one insert,
    // lookup or remove.
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) struct Failure(SepconvStatus, String);

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = match &e {
            Error::Shape(_) => SepconvStatus::Shape,
            Error::Config(_) | Error::UnknownIsa(_) | Error::UnknownFeature(_) => {
                SepconvStatus::InvalidArgument
            }
            Error::IsaUnavailable { .. } => SepconvStatus::IsaUnavailable,
            Error::Model(_) => SepconvStatus::Model,
            Error::Io { .. } => SepconvStatus::Io,
        };
        Failure(status, e.to_string())
    }
}

pub(super) fn fail<T>(status: SepconvStatus, msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(status, msg.into()))
}

pub(super) fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs `f`, catching panics, recording the error message, returning the status.
pub(super) fn guard(f: impl FnOnce() -> Result<(), Failure>) -> SepconvStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            set_last_error("");
            SepconvStatus::Ok
        }
        Ok(Err(Failure(status, msg))) => {
            set_last_error(&msg);
            status
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_last_error(&format!("internal error (please report): {what}"));
            SepconvStatus::Internal
        }
    }
}

pub(super) fn check_live(ptr: usize, kind: Kind, what: &str) -> Result<(), Failure> {
    if ptr == 0 {
        return fail(SepconvStatus::NullPointer, format!("{what} is null"));
    }
    match live().as_ref().and_then(|m| m.get(&ptr)) {
        Some(k) if *k == kind => Ok(()),
        _ => fail(
            SepconvStatus::InvalidHandle,
            format!("{what} is not a live handle (freed, or not made by sepconv)"),
        ),
    }
}

pub(super) fn model_ref<'a>(model: *const SepconvModel) -> Result<&'a AnyModel, Failure> {
    check_live(model as usize, Kind::Model, "model")?;
    // SAFETY: the registry holds only addresses of boxed SepconvModels that are still
    // alive (added by `register`, removed by `sepconv_model_free` before the box drops).
    Ok(unsafe { &(*model).model })
}

pub(super) fn register<T>(boxed: Box<T>, kind: Kind) -> *mut T {
    let ptr = Box::into_raw(boxed);
    live()
        .get_or_insert_with(HashMap::new)
        .insert(ptr as usize, kind);
    ptr
}

pub(super) fn unregister(ptr: usize, kind: Kind, what: &str) -> Result<(), Failure> {
    check_live(ptr, kind, what)?;
    live().as_mut().map(|m| m.remove(&ptr));
    Ok(())
}

pub(super) fn out_ptr<T>(out: *mut *mut T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return fail(SepconvStatus::NullPointer, format!("{what} is null"));
    }
    // SAFETY: checked non-null; the caller passes a writable pointer slot (header doc).
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}
