//! Two-person confirmation (seed 004: a door lock opens only when two people confirm
//! within 35 seconds) and where a group is (its time zone and place, for schedules and
//! sunrise/sunset).
//!
//! A [`Confirmation`] is what a run's `confirm` action asks; the people who may answer
//! see it live in the web app. Its rule is here, in one place, so that the engine that
//! counts answers and the API that lists requests agree on who is eligible.

use serde::{Deserialize, Serialize};

use crate::{GroupId, Millis, Role, UserName};

/// Where a pending request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationState {
    /// Waiting for answers until `expires_at_ms`.
    Pending,
    /// Enough distinct people confirmed in time: the run goes on.
    Confirmed,
    /// Someone eligible refused: the run stops.
    Refused,
    /// Time ran out (or the hub stopped past the deadline): the run stops.
    Expired,
}

impl ConfirmationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmationState::Pending => "pending",
            ConfirmationState::Confirmed => "confirmed",
            ConfirmationState::Refused => "refused",
            ConfirmationState::Expired => "expired",
        }
    }
}

/// One person's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmationAnswer {
    pub user: UserName,
    pub confirm: bool,
    pub at_ms: Millis,
}

/// A run's request for confirmation, as stored and as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    /// `c-` and random characters.
    pub id: String,
    pub group: GroupId,
    pub automation: String,
    pub automation_name: String,
    pub run: String,
    /// What the people are asked; the automation's name when the action gave none.
    pub prompt: String,
    /// How many distinct people must confirm.
    pub people: u32,
    /// Only these people may answer, when not empty.
    #[serde(default)]
    pub users: Vec<UserName>,
    /// Only people with one of these roles in the group may answer, when not empty.
    #[serde(default)]
    pub roles: Vec<Role>,
    pub within_secs: u32,
    pub created_at_ms: Millis,
    pub expires_at_ms: Millis,
    pub state: ConfirmationState,
    /// In the order given; a person's second answer replaces nothing (the first counts).
    #[serde(default)]
    pub answers: Vec<ConfirmationAnswer>,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("this request is {0} and takes no more answers")]
    Closed(&'static str),
    #[error("you are not among the people this request asks")]
    NotEligible,
}

impl Confirmation {
    /// Whether a person with `role` in the group (none: not a member) may answer. The
    /// rule: named `users` if any, else `roles` if any, else every member who may
    /// control devices (`member` and up; viewers only watch). Hub administrators who are
    /// not members are not asked: two people of the family must agree, not the hub's
    /// operator.
    pub fn eligible(&self, user: &UserName, role: Option<Role>) -> bool {
        let Some(role) = role else { return false };
        if !self.users.is_empty() {
            return self.users.contains(user);
        }
        if !self.roles.is_empty() {
            return self.roles.contains(&role);
        }
        role >= Role::Member
    }

    /// The people who confirmed, each once, in order.
    pub fn confirmed_by(&self) -> Vec<&UserName> {
        self.answers
            .iter()
            .filter(|answer| answer.confirm)
            .map(|answer| &answer.user)
            .collect()
    }

    pub fn refused_by(&self) -> Vec<&UserName> {
        self.answers
            .iter()
            .filter(|answer| !answer.confirm)
            .map(|answer| &answer.user)
            .collect()
    }

    /// Takes one answer (the caller checked eligibility) and moves the state: enough
    /// distinct confirmations confirm it, one refusal refuses it. A person who already
    /// answered changes nothing: confirming twice counts once. Returns whether the
    /// answer was counted.
    pub fn answer(
        &mut self,
        user: &UserName,
        confirm: bool,
        now_ms: Millis,
    ) -> Result<bool, AnswerError> {
        if self.state != ConfirmationState::Pending {
            return Err(AnswerError::Closed(self.state.as_str()));
        }
        // Too late; the run's deadline records the expiry (with its audit entry).
        if now_ms >= self.expires_at_ms {
            return Err(AnswerError::Closed(ConfirmationState::Expired.as_str()));
        }
        if self.answers.iter().any(|answer| answer.user == *user) {
            return Ok(false);
        }
        self.answers.push(ConfirmationAnswer {
            user: user.clone(),
            confirm,
            at_ms: now_ms,
        });
        if !confirm {
            self.state = ConfirmationState::Refused;
        } else if self.confirmed_by().len() >= self.people as usize {
            self.state = ConfirmationState::Confirmed;
        }
        Ok(true)
    }
}

/// Where a group is: its time zone for schedules and time conditions, its place for
/// sunrise and sunset. Every field may be unset (the hub's time zone; no sun triggers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPlace {
    /// An IANA name (`Asia/Shanghai`) or a fixed offset (`+08:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

impl GroupPlace {
    /// Checks the ranges; the time zone's name is checked where the zone database is
    /// (the services).
    pub fn check(&self) -> Result<(), crate::FieldError> {
        let bad = |field: &str, message: &str| crate::FieldError {
            field: field.into(),
            message: message.into(),
        };
        match (self.latitude, self.longitude) {
            (Some(lat), _) if !(-90.0..=90.0).contains(&lat) => {
                Err(bad("latitude", "must be between -90 and 90 degrees"))
            }
            (_, Some(lon)) if !(-180.0..=180.0).contains(&lon) => {
                Err(bad("longitude", "must be between -180 and 180 degrees"))
            }
            (Some(_), None) => Err(bad("longitude", "is needed with a latitude")),
            (None, Some(_)) => Err(bad("latitude", "is needed with a longitude")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(people: u32) -> Confirmation {
        Confirmation {
            id: "c-1".into(),
            group: GroupId::new("home").unwrap(),
            automation: "a-1".into(),
            automation_name: "Front door".into(),
            run: "r-1".into(),
            prompt: "Open the front door?".into(),
            people,
            users: Vec::new(),
            roles: Vec::new(),
            within_secs: 35,
            created_at_ms: 0,
            expires_at_ms: 35_000,
            state: ConfirmationState::Pending,
            answers: Vec::new(),
        }
    }

    fn user(name: &str) -> UserName {
        UserName::new(name).unwrap()
    }

    #[test]
    fn the_same_person_twice_counts_once() {
        let mut request = request(2);
        assert_eq!(request.answer(&user("alice"), true, 1_000), Ok(true));
        assert_eq!(request.answer(&user("alice"), true, 2_000), Ok(false));
        assert_eq!(request.state, ConfirmationState::Pending);
        assert_eq!(request.answer(&user("bob"), true, 3_000), Ok(true));
        assert_eq!(request.state, ConfirmationState::Confirmed);
        assert_eq!(request.confirmed_by().len(), 2);
    }

    #[test]
    fn one_refusal_refuses_and_late_answers_expire() {
        let mut refused = request(2);
        refused.answer(&user("alice"), true, 1_000).unwrap();
        refused.answer(&user("bob"), false, 2_000).unwrap();
        assert_eq!(refused.state, ConfirmationState::Refused);
        assert!(refused.answer(&user("carol"), true, 3_000).is_err());

        let mut late = request(1);
        assert_eq!(
            late.answer(&user("alice"), true, 35_000),
            Err(AnswerError::Closed("expired"))
        );
        assert_eq!(late.state, ConfirmationState::Pending);
        assert!(late.answers.is_empty());
    }

    #[test]
    fn eligibility_follows_users_then_roles_then_membership() {
        let mut anyone = request(2);
        assert!(anyone.eligible(&user("alice"), Some(Role::Member)));
        assert!(!anyone.eligible(&user("alice"), Some(Role::Viewer)));
        assert!(!anyone.eligible(&user("alice"), None));
        anyone.roles = vec![Role::Owner];
        assert!(!anyone.eligible(&user("alice"), Some(Role::Admin)));
        assert!(anyone.eligible(&user("alice"), Some(Role::Owner)));
        anyone.users = vec![user("bob")];
        assert!(!anyone.eligible(&user("alice"), Some(Role::Owner)));
        assert!(anyone.eligible(&user("bob"), Some(Role::Viewer)));
    }

    #[test]
    fn a_place_needs_both_coordinates_in_range() {
        let place = |lat, lon| GroupPlace {
            time_zone: None,
            latitude: lat,
            longitude: lon,
        };
        assert!(place(Some(31.2), Some(121.5)).check().is_ok());
        assert!(place(None, None).check().is_ok());
        assert_eq!(
            place(Some(91.0), Some(0.0)).check().unwrap_err().field,
            "latitude"
        );
        assert_eq!(
            place(Some(1.0), None).check().unwrap_err().field,
            "longitude"
        );
    }
}
