//! A whole hub in the test's process, as `hearth serve` runs it ([`hearth::hub::Hub`]),
//! on port-0 listeners of 127.0.0.1 and a fresh store.

use crate::{Backend, DatabaseGuard, database_url};
use hearth::config::HearthConfig;
use hearth::hub::Hub;
use hearth_services::automations::engine::{Clock, SystemClock};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

/// The owner account's password in every test hub (user `admin`).
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// A started hub and what must outlive it (its data directory and database). Derefs to
/// [`Hub`]; [`TestHub::shutdown`] stops it the way `hearth serve` does.
pub struct TestHub {
    hub: Option<Hub>,
    config: HearthConfig,
    clock: Arc<dyn Clock>,
    _database: DatabaseGuard,
    _data_dir: tempfile::TempDir,
}

impl TestHub {
    /// Two people for intruder tests: alice, a member of `home` with control over app
    /// `default`, and carol, the owner of a group `cabin` of her own; each with the
    /// password `<name>-password`.
    pub async fn add_alice_and_carol(&self) {
        use hearth_model::{Permission, Role};
        use hearth_services::registry::NewUser;
        let registry = self.registry();
        for name in ["alice", "carol"] {
            registry
                .add_user(
                    "test",
                    NewUser {
                        password: Some(format!("{name}-password")),
                        ..NewUser::new(crate::ids::user(name))
                    },
                )
                .await
                .unwrap();
        }
        let alice = crate::ids::user("alice");
        registry
            .set_member("test", &crate::ids::group("home"), &alice, Role::Member)
            .await
            .unwrap();
        registry
            .set_grant(
                "test",
                &crate::ids::app("default"),
                &alice,
                Permission::Control,
            )
            .await
            .unwrap();
        registry
            .add_group(
                "test",
                &crate::ids::group("cabin"),
                None,
                Some(&crate::ids::user("carol")),
            )
            .await
            .unwrap();
    }

    /// Stops every service in order and waits for them.
    pub async fn shutdown(mut self) {
        if let Some(hub) = self.hub.take() {
            hub.shutdown().await;
        }
    }

    /// Stops the hub, keeping its data directory and database, so that a test can
    /// change the world (the clock) while it is down; [`TestHub::restart`] starts it
    /// again.
    pub async fn shutdown_keeping_data(&mut self) {
        if let Some(hub) = self.hub.take() {
            hub.shutdown().await;
        }
    }

    /// Stops the hub as [`TestHub::shutdown`] does (if it runs), then starts a new one
    /// with the same configuration, database, data directory and clock (listeners on
    /// new ports).
    ///
    /// # Panics
    /// If the hub cannot start again.
    pub async fn restart(&mut self) {
        if let Some(hub) = self.hub.take() {
            hub.shutdown().await;
        }
        let hub = Hub::start_with_clock(
            self.config.clone(),
            Some(ADMIN_PASSWORD.to_owned()),
            self.clock.clone(),
        )
        .await
        .expect("the hub starts again");
        self.hub = Some(hub);
    }

    /// The MQTT (TCP) listener.
    pub fn mqtt(&self) -> SocketAddr {
        self.addrs().mqtt.expect("MQTT listener")
    }

    /// The HTTP listener (API and web app).
    pub fn http(&self) -> SocketAddr {
        self.addrs().http.expect("HTTP listener")
    }
}

impl Deref for TestHub {
    type Target = Hub;

    fn deref(&self) -> &Hub {
        self.hub.as_ref().expect("the hub is running")
    }
}

/// Starts a hub on `backend` with MQTT, WebSocket and HTTP on port 0, broker
/// persistence in its temporary data directory, and the owner `admin` with
/// [`ADMIN_PASSWORD`]. `adjust` changes the configuration before the start.
///
/// # Panics
/// If the hub cannot start.
pub async fn start_hub_with(backend: Backend, adjust: impl FnOnce(&mut HearthConfig)) -> TestHub {
    start_hub_with_clock(backend, adjust, Arc::new(SystemClock)).await
}

/// [`start_hub_with`] with the automation engine on `clock` (a
/// `hearth_services::automations::engine::ManualClock` in tests of time).
pub async fn start_hub_with_clock(
    backend: Backend,
    adjust: impl FnOnce(&mut HearthConfig),
    clock: Arc<dyn Clock>,
) -> TestHub {
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let (url, database) = database_url(backend);
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = HearthConfig {
        data_dir: data_dir.path().to_owned(),
        database: Some(url),
        http: Some(any_port),
        mqtt: hearth_broker::BrokerConfig::ephemeral(),
        ..HearthConfig::default()
    };
    // Tests state times in UTC, whatever the machine's zone.
    config.automations.time_zone = Some("UTC".into());
    adjust(&mut config);
    let hub = Hub::start_with_clock(
        config.clone(),
        Some(ADMIN_PASSWORD.to_owned()),
        clock.clone(),
    )
    .await
    .expect("the hub starts");
    TestHub {
        hub: Some(hub),
        config,
        clock,
        _database: database,
        _data_dir: data_dir,
    }
}

/// [`start_hub_with`] and the defaults.
pub async fn start_hub(backend: Backend) -> TestHub {
    start_hub_with(backend, |_| {}).await
}
