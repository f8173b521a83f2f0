//! The broker's own [`Authorizer`]: a Mosquitto-style password file and ACL file, for
//! setups that run the broker without Hearth's device registry, and for users moving
//! from Mosquitto who bring their files along.
//!
//! Decisions, and where they differ from Mosquitto 2.x:
//! - A client with a user name must be in the password file and give its password
//!   (argon2 PHC strings only; Mosquitto's `$7$` hashes are refused with a hint).
//!   Unknown users and wrong passwords get the same answer, 0x86, after the same work.
//! - A client without a user name connects only if `allow_anonymous` is set, as an
//!   [`PrincipalKind::Anonymous`] principal named by its client id; otherwise 0x87.
//! - With no password file, nobody can prove a user name: clients are accepted only if
//!   `allow_anonymous` is set, and then as anonymous principals whatever user name they
//!   sent, so that a claimed name never earns that user's ACL section. (Mosquitto
//!   would apply it.)
//! - With no ACL file, every connected client may do everything (as in Mosquitto).
//! - Admin and Service principals may always do everything. Every other kind is judged
//!   by the ACL, under its name as user name, except anonymous ones, who have none.
//! - A subscription must be covered by a read rule and overlap no deny rule, because
//!   the broker checks subscriptions, not each delivery (Mosquitto checks deliveries).
//!
//! # Layout
//! - `passwords`: the password file, verification and [`hash_password`].
//! - `acl`: the ACL file and its decision.
//! - `filter`: topic filter matching, covering and overlap with `%c`/`%u` placeholders.

mod acl;
mod filter;
mod passwords;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use hearth_bus::{Action, AuthError, Authorizer, ConnectRequest, Principal, PrincipalKind};
use parking_lot::RwLock;

use self::acl::Acl;
use self::filter::Subject;
use self::passwords::PasswordFile;
pub use self::passwords::hash_password;

/// The `[mqtt.auth]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileAuthConfig {
    /// Mosquitto-style password file: one `username:hash` per line, hash an argon2 PHC
    /// string (`$argon2id$...`, as written by `hearth passwd`). `#` comments and blank
    /// lines allowed. Without it, only anonymous clients can connect.
    pub password_file: Option<PathBuf>,
    /// Mosquitto-style ACL file (`user`, `topic`, `pattern` lines). Without it, every
    /// connected client may publish and subscribe to anything.
    pub acl_file: Option<PathBuf>,
    /// Let clients without a user name connect (development only). Default false.
    pub allow_anonymous: bool,
}

/// Why the password file or ACL file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FileAuthError {
    /// The file is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of the file is malformed; `line` counts from 1.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// A problem on one line of a file; [`FileAuthError::Syntax`] adds the path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LineError {
    line: usize,
    message: String,
}

/// Checks clients against the files named in a [`FileAuthConfig`]; see the module docs
/// for what it decides.
pub struct FileAuthorizer {
    config: FileAuthConfig,
    /// The rules of both files, replaced whole on reload so that no check ever sees one
    /// file's new version with the other's old one. A read-write lock because `authorize`
    /// reads on every publish from many connections at once, and the only write is a
    /// pointer swap once per edit; `authenticate` clones the `Arc` to take it to a
    /// blocking thread.
    rules: RwLock<Arc<Rules>>,
}

/// Both files as loaded, with what they looked like on disk just before being read.
#[derive(Debug)]
struct Rules {
    passwords: Option<PasswordFile>,
    acl: Option<Acl>,
    stamps: Stamps,
}

/// Modification time and length of the password file and the ACL file, `None` for a
/// file not configured or not readable.
type Stamps = [Option<(Option<SystemTime>, u64)>; 2];

impl FileAuthorizer {
    /// Reads both files. Errors name the file, and for a bad line its number.
    pub fn load(config: &FileAuthConfig) -> Result<FileAuthorizer, FileAuthError> {
        let rules = Rules::read(config)?;
        Ok(FileAuthorizer {
            config: config.clone(),
            rules: RwLock::new(Arc::new(rules)),
        })
    }

    /// Reads both files again and, if both are good, puts them in force together. On an
    /// error the previous rules stay in force.
    pub fn reload(&self) -> Result<(), FileAuthError> {
        let rules = Rules::read(&self.config)?;
        *self.rules.write() = Arc::new(rules);
        Ok(())
    }

    /// Spawns a task that looks at both files' modification times and sizes every second
    /// and reloads when they change, so edits apply within about a second without a
    /// restart. A bad edit is logged once and the previous rules stay in force until the
    /// file changes again. The task ends when the authorizer is dropped, or when the
    /// handle is aborted. Must be called inside a Tokio runtime.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let authorizer = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failed_stamps = None;
            loop {
                ticker.tick().await;
                let authorizer = match Weak::upgrade(&authorizer) {
                    Some(authorizer) => authorizer,
                    None => return,
                };
                // Stat and parse off the runtime threads: both touch the disk.
                let checked = tokio::task::spawn_blocking(move || {
                    authorizer.reload_if_changed(failed_stamps)
                });
                match checked.await {
                    Ok(stamps) => failed_stamps = stamps,
                    Err(err) => tracing::error!(error = %err, "auth file watcher check failed"),
                }
            }
        })
    }

    /// One watcher tick. `failed_stamps` are the stamps of the last version that failed
    /// to load, so a bad file is reported once, not every second; returns the new value.
    fn reload_if_changed(&self, failed_stamps: Option<Stamps>) -> Option<Stamps> {
        let current = stamps(&self.config);
        if current == self.rules.read().stamps {
            return None;
        }
        if failed_stamps == Some(current) {
            return failed_stamps;
        }
        match self.reload() {
            Ok(()) => {
                tracing::info!("reloaded the password and ACL files");
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "keeping the previous password and ACL rules");
                Some(current)
            }
        }
    }

    fn anonymous(&self, request: &ConnectRequest, why_not: &str) -> Result<Principal, AuthError> {
        if self.config.allow_anonymous {
            Ok(Principal::new(
                PrincipalKind::Anonymous,
                request.client_id.clone(),
            ))
        } else {
            Err(AuthError::not_authorized(why_not))
        }
    }
}

impl std::fmt::Debug for FileAuthorizer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Leaves the hashes out of logs.
        let rules = self.rules.read();
        formatter
            .debug_struct("FileAuthorizer")
            .field("config", &self.config)
            .field(
                "n_users",
                &rules.passwords.as_ref().map(PasswordFile::n_users),
            )
            .field("has_acl", &rules.acl.is_some())
            .finish()
    }
}

#[async_trait]
impl Authorizer for FileAuthorizer {
    async fn authenticate(&self, request: &ConnectRequest) -> Result<Principal, AuthError> {
        let Some(username) = request.username.clone() else {
            return self.anonymous(request, "anonymous access is disabled");
        };
        let rules = Arc::clone(&self.rules.read());
        if rules.passwords.is_none() {
            return self.anonymous(request, "no password file is configured");
        }
        // Refusing a missing password before the lookup tells nothing about the user.
        let Some(password) = request.password.clone() else {
            return Err(AuthError::bad_credentials("bad user name or password"));
        };
        let checked_username = Arc::clone(&username);
        let verified = tokio::task::spawn_blocking(move || {
            rules
                .passwords
                .as_ref()
                .is_some_and(|passwords| passwords.verify(&checked_username, &password))
        })
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "password verification task failed");
            AuthError::not_authorized("password verification failed")
        })?;
        if verified {
            Ok(Principal::new(PrincipalKind::ConfigUser, username))
        } else {
            tracing::debug!(client_id = %request.client_id, username = %username, "bad password");
            Err(AuthError::bad_credentials("bad user name or password"))
        }
    }

    fn authorize(
        &self,
        principal: &Principal,
        client_id: &str,
        action: Action,
        topic: &str,
    ) -> bool {
        if matches!(
            principal.kind,
            PrincipalKind::Admin | PrincipalKind::Service
        ) {
            return true;
        }
        let rules = self.rules.read();
        let Some(acl) = &rules.acl else {
            return true;
        };
        let username = (principal.kind != PrincipalKind::Anonymous).then_some(&*principal.name);
        acl.allows(&Subject::new(client_id, username), action, topic)
    }
}

impl Rules {
    fn read(config: &FileAuthConfig) -> Result<Rules, FileAuthError> {
        // Stamped before reading: an edit racing the read shows up as a change next tick.
        let stamps = stamps(config);
        let passwords = match &config.password_file {
            Some(path) => Some(parse_file(path, PasswordFile::parse)?),
            None => None,
        };
        let acl = match &config.acl_file {
            Some(path) => Some(parse_file(path, Acl::parse)?),
            None => None,
        };
        Ok(Rules {
            passwords,
            acl,
            stamps,
        })
    }
}

fn parse_file<T>(path: &Path, parse: fn(&str) -> Result<T, LineError>) -> Result<T, FileAuthError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileAuthError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|LineError { line, message }| FileAuthError::Syntax {
        path: path.to_owned(),
        line,
        message,
    })
}

fn stamps(config: &FileAuthConfig) -> Stamps {
    let stamp = |path: &Option<PathBuf>| {
        let metadata = std::fs::metadata(path.as_ref()?).ok()?;
        Some((metadata.modified().ok(), metadata.len()))
    };
    [stamp(&config.password_file), stamp(&config.acl_file)]
}

#[cfg(test)]
mod tests;
