//! Debian's Mosquitto (package `mosquitto`, installed by `.ci/run`) as a test's peer:
//! the bridge's "any MQTT 5 broker", the external broker of several nodes, the
//! dynamic-security plugin. Each test writes its own `mosquitto.conf`; starting the
//! process, waiting for its listeners and stopping it by its PID is the same for all.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Mosquitto may take to listen.
const LISTEN_DEADLINE: Duration = Duration::from_secs(20);

/// A `mosquitto -c <config>` the test started; killed and reaped when dropped.
pub struct MosquittoProcess {
    child: Child,
}

impl MosquittoProcess {
    /// Starts Mosquitto with `config` and returns once every one of `ports` on
    /// 127.0.0.1 accepts a connection (blocking: Mosquitto listens within
    /// milliseconds).
    ///
    /// # Panics
    /// If Mosquitto is not installed, or a port does not listen in time.
    pub fn start(config: &Path, ports: &[u16]) -> MosquittoProcess {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (Debian package mosquitto)");
        let process = MosquittoProcess { child };
        let start = Instant::now();
        for port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(
                    start.elapsed() < LISTEN_DEADLINE,
                    "mosquitto never listened on port {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        process
    }
}

impl Drop for MosquittoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
