//! Ids for fixtures, in one call: `device("d1")` rather than `DeviceId::new("d1").unwrap()`
//! at every registry call. Only for ids a test writes down; a test about malformed ids
//! calls `DeviceId::new` itself and looks at the error.

use hearth_model::{AppId, DeviceId, GroupId, UserName};

/// A device id the test knows to be valid.
pub fn device(id: &str) -> DeviceId {
    DeviceId::new(id).expect("a test's device id is valid")
}

/// An application id the test knows to be valid.
pub fn app(id: &str) -> AppId {
    AppId::new(id).expect("a test's application id is valid")
}

/// A group id the test knows to be valid.
pub fn group(id: &str) -> GroupId {
    GroupId::new(id).expect("a test's group id is valid")
}

/// A user name the test knows to be valid.
pub fn user(name: &str) -> UserName {
    UserName::new(name).expect("a test's user name is valid")
}
