//! Identifiers that appear in MQTT topics, URLs and command lines.
//!
//! Each id is checked once, when it is made, so that the rest of the hub can put it in a
//! topic (`devices/{id}/data`) or a path (`/api/v1/devices/{id}`) without escaping.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Why a string is not a valid identifier; the message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {why}")]
pub struct IdError {
    pub what: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// Longest id accepted. Ids travel in every topic a device publishes, so they stay short.
pub const MAX_ID_LEN: usize = 64;

fn check(what: &'static str, value: &str, extra: &[u8]) -> Result<(), IdError> {
    let fail = |why| {
        Err(IdError {
            what,
            value: value.to_owned(),
            why,
        })
    };
    if value.is_empty() {
        return fail("it is empty");
    }
    if value.len() > MAX_ID_LEN {
        return fail("it is longer than 64 characters");
    }
    if !value.bytes().all(|byte| {
        byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || extra.contains(&byte)
    }) {
        return fail(if extra.is_empty() {
            "use only letters, digits, '-' and '_'"
        } else {
            "use only letters, digits, '-', '_' and '.'"
        });
    }
    if value.starts_with('-') || value.starts_with('.') {
        return fail("it must not start with '-' or '.'");
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $extra:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// Checks `value` and wraps it.
            pub fn new(value: &str) -> Result<$name, IdError> {
                check($what, value, $extra)?;
                Ok($name(Arc::from(value)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<$name, IdError> {
                $name::new(&value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<$name, IdError> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A device's id: its MQTT client id and user name, and a level of its topics.
    DeviceId,
    "device id",
    &[]
);
id_type!(
    /// A group's id (a home, team or workshop), e.g. `home`.
    GroupId,
    "group id",
    &[]
);
id_type!(
    /// An application's id, unique across the hub, e.g. `lights`.
    AppId,
    "application id",
    &[]
);
id_type!(
    /// A site's id (issue 20): a home hub linked to this hub logs in with it as its MQTT
    /// user name, and it is a level of the topics it relays (`sites/{site}/devices/...`).
    SiteId,
    "site id",
    &[]
);
id_type!(
    /// A person's login name. Allows dots (`jane.doe`) besides the id characters.
    UserName,
    "user name",
    b"."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_topic_safe_ids_are_accepted() {
        for good in ["kitchen-temp", "ESP_01", "a", &"x".repeat(64)] {
            assert_eq!(DeviceId::new(good).unwrap().as_str(), good);
        }
        assert!(UserName::new("jane.doe").is_ok());
    }

    #[test]
    fn ids_that_would_break_topics_or_urls_are_refused_with_a_reason() {
        for bad in [
            "",
            "a/b",
            "a+b",
            "a#",
            "with space",
            "-lead",
            "ünï",
            &"x".repeat(65),
        ] {
            let err = DeviceId::new(bad).unwrap_err();
            assert_eq!(err.what, "device id");
            assert!(!err.why.is_empty());
        }
        assert!(
            DeviceId::new("a.b").is_err(),
            "dots are for user names only"
        );
        assert!(UserName::new(".hidden").is_err());
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let id: DeviceId = serde_json::from_str("\"lamp-1\"").unwrap();
        assert_eq!(id.as_str(), "lamp-1");
        assert!(serde_json::from_str::<DeviceId>("\"a/b\"").is_err());
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"lamp-1\"");
    }
}
