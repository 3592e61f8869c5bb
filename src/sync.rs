//! Locking a `std::sync::Mutex` whose holder panicked: the data is used as it is. Every lock
//! in this crate guards state that stays consistent between statements (a cache slot, a map
//! of waiters, a list of sessions), so a panic elsewhere must not take the plugin down.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
