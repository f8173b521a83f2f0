//! Roles in a group and grants on an application, and what they add up to.
//!
//! One function, [`effective_permission`], decides what a person may do with an
//! application, so that the API, the browser's MQTT credential and the web app agree.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A member's role in a group (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads what the group's applications hold, unless granted less.
    Viewer,
    /// Uses what they are granted; reads the rest.
    Member,
    /// Manages the group's applications, devices and members.
    Admin,
    /// Like admin, and may delete the group or change other owners.
    Owner,
}

/// What a user may do with one application's devices (a UserApplication grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// See devices, their live state and history.
    View,
    /// Also send commands (switch a relay).
    Control,
    /// Also add, edit and remove devices and rotate their secrets.
    Manage,
}

/// What a member with `role` in the application's group, holding `grant` on the
/// application (if any), may do with it. Owners and admins manage everything in their
/// group; members get their grant or, without one, view; viewers never exceed view,
/// whatever a grant says, so that demoting someone to viewer is enough to stop them
/// switching things.
pub fn effective_permission(role: Role, grant: Option<Permission>) -> Permission {
    match role {
        Role::Owner | Role::Admin => Permission::Manage,
        Role::Member => grant.unwrap_or(Permission::View),
        Role::Viewer => Permission::View,
    }
}

macro_rules! text_enum {
    ($name:ident, $what:literal, $($variant:ident => $text:literal),+) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<$name, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(concat!("unknown ", $what, " {:?}; expected one of: {}"), text, [$($text),+].join(", "))),
                }
            }
        }
    };
}

text_enum!(Role, "role", Viewer => "viewer", Member => "member", Admin => "admin", Owner => "owner");
text_enum!(Permission, "permission", View => "view", Control => "control", Manage => "manage");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_never_control_even_with_a_grant() {
        assert_eq!(
            effective_permission(Role::Viewer, Some(Permission::Manage)),
            Permission::View
        );
    }

    #[test]
    fn members_get_their_grant_or_view() {
        assert_eq!(effective_permission(Role::Member, None), Permission::View);
        assert_eq!(
            effective_permission(Role::Member, Some(Permission::Control)),
            Permission::Control
        );
    }

    #[test]
    fn owners_and_admins_manage() {
        for role in [Role::Owner, Role::Admin] {
            assert_eq!(effective_permission(role, None), Permission::Manage);
        }
    }

    #[test]
    fn roles_and_permissions_parse_from_their_names() {
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!(
            "control".parse::<Permission>().unwrap(),
            Permission::Control
        );
        let err = "boss".parse::<Role>().unwrap_err();
        assert!(err.contains("owner"), "{err}");
        assert!(Permission::View < Permission::Control && Permission::Control < Permission::Manage);
    }
}
