//! What the registry CLI tests share: a fresh store per test on any backend, the
//! binary, and the output helpers.
#![allow(dead_code)] // each test binary uses its own part of it

use hearth_testkit::{Backend, DatabaseGuard};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fresh store and a working directory (without a hearth.toml) to run commands in.
pub struct Hub {
    /// `--data-dir DIR` or `--database URL`, put before the command as SPEC §8 writes it.
    pub store_args: Vec<String>,
    pub dir: tempfile::TempDir,
    pub _database: Option<DatabaseGuard>,
}

impl Hub {
    pub fn sqlite() -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        Hub {
            store_args: vec!["--data-dir".into(), data_dir.display().to_string()],
            dir,
            _database: None,
        }
    }

    pub fn postgres() -> Hub {
        Hub::server(Backend::Postgres)
    }

    pub fn mariadb() -> Hub {
        Hub::server(Backend::MariaDb)
    }

    /// A fresh database on a server backend, passed as `--database URL`.
    fn server(backend: Backend) -> Hub {
        let (url, guard) = hearth_testkit::database_url(backend);
        Hub {
            store_args: vec!["--database".into(), url],
            dir: tempfile::tempdir().unwrap(),
            _database: Some(guard),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = hearth(self.dir.path())
            .args(&self.store_args)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hearth starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_success(args, &output);
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a command with `--json` that must succeed; returns what it printed.
    pub fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{args:?}: {error}: {stdout}"))
    }

    /// Runs a command that must fail with status 1; returns its stderr and, run again
    /// with `--json` (for commands that change nothing), the error object.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        stderr
    }

    /// Runs a failing command with `--json`; returns the `error` object from stdout.
    pub fn json_error(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let output = self.run(&args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            describe(&output)
        );
        let value: Value = serde_json::from_slice(&output.stdout).unwrap();
        value["error"].clone()
    }

    /// A group `home` with an application `lights` in it.
    pub fn with_home_and_lights(self) -> Hub {
        self.ok(&["group", "add", "home", "--name", "Home"]);
        self.ok(&["app", "add", "lights", "--group", "home"]);
        self
    }
}

/// The store the commands of `hub` use, opened here to see what they wrote.
pub fn with_store<T>(hub: &Hub, f: impl AsyncFnOnce(&dyn hearth_store::Store) -> T) -> T {
    let url = match hub.store_args[0].as_str() {
        "--data-dir" => hearth_store::sqlite_url(Path::new(&hub.store_args[1])),
        _ => hub.store_args[1].clone(),
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = hearth_store::open(&url).await.unwrap();
        let value = f(store.as_ref()).await;
        store.close().await;
        value
    })
}

pub fn hearth(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
    command
        .current_dir(cwd)
        .env_remove("HEARTH_LOG")
        .env_remove("HEARTH_CONFIG")
        .env_remove("HEARTH_DATA_DIR")
        .env_remove("HEARTH_DATABASE")
        .env("USER", "tester");
    command
}

pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn assert_success(args: &[&str], output: &Output) {
    assert!(output.status.success(), "{args:?}: {}", describe(output));
}

pub fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

/// One flow per function, each run as `NAME::sqlite`, `NAME::postgres` and `NAME::mariadb`.
macro_rules! both_backends {
    ($($flow:ident),+ $(,)?) => {$(
        mod $flow {
            #[test]
            fn sqlite() {
                super::$flow(super::Hub::sqlite());
            }

            #[test]
            fn postgres() {
                super::$flow(super::Hub::postgres());
            }

            #[test]
            fn mariadb() {
                super::$flow(super::Hub::mariadb());
            }
        }
    )+};
}

pub fn ids_by<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap())
        .collect()
}

pub fn write_csv(hub: &Hub, name: &str, text: &str) -> String {
    let path = hub.path(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}
