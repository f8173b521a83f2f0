//! Refusing an id that is taken, without saying whose it is.
//!
//! Group, application and device ids are unique across the whole hub, not per group:
//! a device's id is its MQTT client id and a level of its topics, and applications and
//! groups are named in the ACL the same way. So creating one with a taken id must
//! fail, and that failure unavoidably tells the caller "this id is in use somewhere".
//! What it must not tell is anything they may not read: the answer is the same 409
//! text for every taken id, whether the caller can see the holder or not, with no
//! group, application or name. Each refusal is logged (a warning naming the caller and
//! the id) and counted per user: past [`TAKEN_IDS_PER_MINUTE`] refusals a minute,
//! creating answers 429, so that probing for ids is slow and leaves a trail.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use hearth_services::RegistryError;
use hearth_store::StoreError;
use std::time::Instant;

/// Taken-id refusals a user may get per minute before creating answers 429.
pub const TAKEN_IDS_PER_MINUTE: u32 = 10;

/// 429 when the caller has hit too many taken ids this minute; call before creating.
pub(crate) fn check_probes(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    state
        .id_probes
        .check(caller.user.name.as_str(), None, Instant::now())
        .map_err(|wait| ApiError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
}

/// Maps a registry error from creating a `kind` (`group`, `application`, `device`)
/// called `id`: a conflict becomes the one "taken" answer, counted and logged.
pub(crate) fn taken(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    id: &str,
    error: RegistryError,
) -> ApiError {
    match error {
        RegistryError::Store(StoreError::Conflict { .. }) => {
            state
                .id_probes
                .fail(caller.user.name.as_str(), None, Instant::now());
            tracing::warn!(
                user = %caller.user.name,
                kind,
                id,
                "create refused: the id is taken"
            );
            ApiError::Conflict(format!(
                "id: {id:?} is taken; choose another ({kind} ids are unique across the \
                 whole hub, so this says only that the id is in use)"
            ))
        }
        other => other.into(),
    }
}
