//! Shared by the integration tests: a broker on ephemeral loopback ports, and helpers to
//! run third-party clients against it.
#![allow(dead_code)]

pub mod clients;

use hearth_broker::{Broker, BrokerConfig, BrokerHandle, LocalAddrs};
use hearth_bus::{AllowAll, Authorizer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A broker running inside the test process on port 0 listeners.
pub struct TestBroker {
    pub broker: Option<Broker>,
    pub addrs: LocalAddrs,
    pub handle: BrokerHandle,
}

impl TestBroker {
    /// Every listener on 127.0.0.1:0, anonymous access, `$SYS` every second.
    pub async fn start() -> TestBroker {
        TestBroker::start_with(BrokerConfig::ephemeral(), Arc::new(AllowAll)).await
    }

    pub async fn start_with(config: BrokerConfig, authorizer: Arc<dyn Authorizer>) -> TestBroker {
        TestBroker::start_full(config, authorizer, None).await
    }

    /// Ephemeral listeners, keeping its state in (a clone of) `store`, so that a second
    /// broker on the same store sees what the first one acknowledged.
    pub async fn start_with_store(
        authorizer: Arc<dyn Authorizer>,
        store: &hearth_broker::persist::MemoryStore,
    ) -> TestBroker {
        let store: Box<dyn hearth_broker::persist::BrokerStore> = Box::new(store.clone());
        TestBroker::start_full(BrokerConfig::ephemeral(), authorizer, Some(store)).await
    }

    async fn start_full(
        config: BrokerConfig,
        authorizer: Arc<dyn Authorizer>,
        store: Option<Box<dyn hearth_broker::persist::BrokerStore>>,
    ) -> TestBroker {
        let broker = Broker::start_with_store(config, authorizer, store)
            .await
            .expect("broker starts");
        let addrs = broker.local_addrs().clone();
        let handle = broker.handle();
        TestBroker {
            broker: Some(broker),
            addrs,
            handle,
        }
    }

    pub fn mqtt(&self) -> SocketAddr {
        self.addrs.mqtt.expect("TCP listener")
    }

    pub fn port(&self) -> u16 {
        self.mqtt().port()
    }

    pub fn ws(&self) -> SocketAddr {
        self.addrs.ws.expect("WebSocket listener")
    }

    pub async fn stop(mut self) {
        if let Some(broker) = self.broker.take() {
            broker.shutdown().await;
        }
    }
}

/// Path of a Python client script under tests/clients.
pub fn client_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("clients")
        .join(name)
}

/// Runs a command to completion with a deadline; returns (status ok, stdout, stderr).
/// A hung client fails the test instead of hanging the suite.
pub async fn run_command(
    mut command: tokio::process::Command,
    deadline: Duration,
) -> (bool, String, String) {
    command.kill_on_drop(true);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command
        .spawn()
        .expect("command starts (is it installed? see README)");
    let output = tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .expect("command finished before its deadline")
        .expect("command output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Polls `condition` every 20 ms until it holds or `deadline` passes.
pub async fn eventually<F, Fut>(deadline: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    loop {
        if condition().await {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
