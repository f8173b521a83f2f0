//! The registry CLI (`hearth group|user|app|device ...`) as people and scripts run it:
//! the real binary, a fresh store per test, every flow on SQLite (`--data-dir`) and on
//! PostgreSQL (`--database`, from `HEARTH_TEST_POSTGRES`; missing, those tests fail).

use hearth_testkit::{Backend, DatabaseGuard};
use serde_json::Value;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fresh store and a working directory (without a hearth.toml) to run commands in.
struct Hub {
    /// `--data-dir DIR` or `--database URL`, put before the command as SPEC §8 writes it.
    store_args: Vec<String>,
    dir: tempfile::TempDir,
    _database: Option<DatabaseGuard>,
}

impl Hub {
    fn sqlite() -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        Hub {
            store_args: vec!["--data-dir".into(), data_dir.display().to_string()],
            dir,
            _database: None,
        }
    }

    fn postgres() -> Hub {
        let (url, guard) = hearth_testkit::database_url(Backend::Postgres);
        Hub {
            store_args: vec!["--database".into(), url],
            dir: tempfile::tempdir().unwrap(),
            _database: Some(guard),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
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

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_success(args, &output);
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a command with `--json` that must succeed; returns what it printed.
    fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{args:?}: {error}: {stdout}"))
    }

    /// Runs a command that must fail with status 1; returns its stderr and, run again
    /// with `--json` (for commands that change nothing), the error object.
    fn fails(&self, args: &[&str]) -> String {
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
    fn json_error(&self, args: &[&str]) -> Value {
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
    fn with_home_and_lights(self) -> Hub {
        self.ok(&["group", "add", "home", "--name", "Home"]);
        self.ok(&["app", "add", "lights", "--group", "home"]);
        self
    }
}

fn hearth(cwd: &Path) -> Command {
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

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_success(args: &[&str], output: &Output) {
    assert!(output.status.success(), "{args:?}: {}", describe(output));
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

/// One flow per function, each run as `NAME::sqlite` and `NAME::postgres`.
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
        }
    )+};
}

both_backends!(
    groups_and_members,
    users,
    apps_and_grants,
    devices,
    device_state_changes,
    mistakes_exit_1_and_name_what_was_wrong,
    csv_import_registers_every_row,
    csv_import_with_a_bad_row_registers_nothing,
);

fn groups_and_members(hub: Hub) {
    let group = hub.json(&["group", "add", "home", "--name", "Home"]);
    assert_eq!(group["id"], "home");
    assert_eq!(group["name"], "Home");
    let output = hub.run_with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        "secret password\n",
    );
    assert_success(&["user", "add"], &output);
    hub.json(&["group", "add", "lab", "--owner", "alice"]);
    hub.json(&["group", "member", "home", "alice", "admin"]);

    let list = hub.json(&["group", "list"]);
    assert_eq!(ids(&list), ["home", "lab"]);
    assert_eq!(list[0]["members"], 1);
    let table = hub.ok(&["group", "list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains("Home"), "{table}");

    let shown = hub.json(&["group", "show", "lab"]);
    assert_eq!(shown["members"][0]["user"], "alice");
    assert_eq!(shown["members"][0]["role"], "owner");
    assert_eq!(shown["applications"], Value::Array(vec![]));
    let text = hub.ok(&["group", "show", "home"]);
    assert!(text.contains("alice") && text.contains("admin"), "{text}");

    hub.ok(&["group", "member", "home", "alice", "--remove"]);
    let shown = hub.json(&["group", "show", "home"]);
    assert_eq!(shown["members"], Value::Array(vec![]));

    hub.ok(&["group", "remove", "lab"]);
    assert_eq!(ids(&hub.json(&["group", "list"])), ["home"]);
    let error = hub.json_error(&["group", "show", "lab"]);
    assert_eq!(error["code"], "not_found");
}

fn users(hub: Hub) {
    hub.ok(&["group", "add", "home"]);
    // No password option: one is generated and printed once.
    let bob = hub.json(&["user", "add", "bob", "--admin"]);
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["is_admin"], true);
    assert!(bob["password"].as_str().unwrap().len() >= 8, "{bob}");
    let text = hub.ok(&["user", "add", "dave"]);
    assert!(text.contains("password: "), "{text}");

    let password_file = hub.path("carol.txt");
    std::fs::write(&password_file, "correct horse battery\n").unwrap();
    let carol = hub.json(&[
        "user",
        "add",
        "carol",
        "--password-file",
        password_file.to_str().unwrap(),
        "--display-name",
        "Carol C.",
        "--email",
        "carol@example.com",
        "--language",
        "zh-CN",
        "--group",
        "home",
        "--role",
        "viewer",
    ]);
    assert_eq!(
        carol["password"],
        Value::Null,
        "a given password is not printed"
    );
    assert_eq!(carol["language"], "zh-CN");

    let list = hub.json(&["user", "list"]);
    assert_eq!(ids_by(&list, "name"), ["bob", "carol", "dave"]);
    let shown = hub.json(&["user", "show", "carol"]);
    assert_eq!(shown["display_name"], "Carol C.");
    assert_eq!(shown["email"], "carol@example.com");
    assert_eq!(shown["memberships"][0]["group"], "home");
    assert_eq!(shown["memberships"][0]["role"], "viewer");
    let text = hub.ok(&["user", "show", "carol"]);
    assert!(text.contains("viewer"), "{text}");

    let output = hub.run_with_stdin(
        &["user", "passwd", "carol", "--password-stdin"],
        "a new password\n",
    );
    assert_success(&["user", "passwd"], &output);
    let changed = hub.json(&["user", "passwd", "dave"]);
    assert!(changed["password"].is_string(), "{changed}");
    let stderr = String::from_utf8(
        hub.run_with_stdin(&["user", "passwd", "carol", "--password-stdin"], "short\n")
            .stderr,
    )
    .unwrap();
    assert!(stderr.contains("password"), "{stderr}");

    hub.ok(&["user", "remove", "carol"]);
    assert_eq!(
        hub.json_error(&["user", "show", "carol"])["code"],
        "not_found"
    );
    let error = hub.json_error(&["user", "add", "erin", "--group", "nope"]);
    assert_eq!(error["code"], "not_found");
    assert_eq!(
        hub.json_error(&["user", "show", "erin"])["code"],
        "not_found",
        "an unknown group leaves no user behind"
    );
}

fn ids_by<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap())
        .collect()
}

fn apps_and_grants(hub: Hub) {
    hub.ok(&["group", "add", "home"]);
    hub.ok(&["user", "add", "alice"]);
    let app = hub.json(&[
        "app", "add", "lights", "--group", "home", "--name", "Lights",
    ]);
    assert_eq!(app["id"], "lights");
    let first_secret = app["secret"].as_str().unwrap().to_owned();
    assert!(
        app["mqtt_key"].as_str().unwrap().starts_with("app-"),
        "{app}"
    );
    let output = hub.run(&["app", "add", "heating", "--group", "home"]);
    assert_success(&["app", "add"], &output);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("mqtt key:") && stdout.contains("secret:"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("not stored"));

    assert_eq!(ids(&hub.json(&["app", "list"])), ["heating", "lights"]);
    assert_eq!(
        ids(&hub.json(&["app", "list", "--group", "home"])),
        ["heating", "lights"]
    );
    hub.json(&["app", "grant", "lights", "alice", "control"]);
    let shown = hub.json(&["app", "show", "lights"]);
    assert_eq!(shown["devices"], 0);
    assert_eq!(shown["grants"][0]["user"], "alice");
    assert_eq!(shown["grants"][0]["permission"], "control");
    assert_eq!(
        shown["secret"],
        Value::Null,
        "secrets are never shown again"
    );
    let text = hub.ok(&["app", "show", "lights"]);
    assert!(text.contains("control"), "{text}");
    hub.ok(&["app", "grant", "lights", "alice", "--remove"]);
    assert_eq!(
        hub.json(&["app", "show", "lights"])["grants"],
        Value::Array(vec![])
    );

    let rotated = hub.json(&["app", "rotate-secret", "lights"]);
    assert_ne!(rotated["secret"].as_str().unwrap(), first_secret);

    hub.ok(&["app", "remove", "heating"]);
    assert_eq!(ids(&hub.json(&["app", "list"])), ["lights"]);
    assert_eq!(
        hub.json_error(&["app", "show", "heating"])["code"],
        "not_found"
    );
    let error = hub.json_error(&["app", "add", "x", "--group", "nope"]);
    assert_eq!(error["code"], "not_found");
}

fn devices(hub: Hub) {
    let hub = hub.with_home_and_lights();
    let added = hub.json(&[
        "device",
        "add",
        "kitchen",
        "--app",
        "lights",
        "--name",
        "Kitchen",
        "--kind",
        "thermostat",
        "--room",
        "kitchen",
        "--firmware",
        "1.2.0",
        "--heartbeat-timeout",
        "60",
        "--metadata",
        r#"{"serial": "A12"}"#,
    ]);
    assert_eq!(added["id"], "kitchen");
    assert_eq!(added["secret"].as_str().unwrap().len(), 32);

    let shown = hub.json(&["device", "show", "kitchen"]);
    assert_eq!(shown["application"], "lights");
    assert_eq!(shown["name"], "Kitchen");
    assert_eq!(shown["kind"], "thermostat");
    assert_eq!(shown["room"], "kitchen");
    assert_eq!(shown["firmware"], "1.2.0");
    assert_eq!(shown["heartbeat_timeout_secs"], 60);
    assert_eq!(shown["metadata"]["serial"], "A12");
    assert_eq!(shown["enabled"], true);
    assert_eq!(shown["live"]["is_online"], false);
    assert_eq!(shown["secret"], Value::Null);

    // The only application is the default; people get a command to try.
    let text = hub.ok(&["device", "add", "porch"]);
    let secret = text
        .lines()
        .find_map(|line| line.strip_prefix("secret: "))
        .expect("a secret line");
    assert!(
        text.contains(&format!(
            "mosquitto_pub -h 127.0.0.1 -p 1883 -i porch -u porch -P '{secret}' -t devices/porch/data -m '{{\"temperature\": 21.5}}'"
        )),
        "{text}"
    );

    assert_eq!(ids(&hub.json(&["device", "list"])), ["kitchen", "porch"]);
    assert_eq!(
        ids(&hub.json(&["device", "list", "--room", "kitchen"])),
        ["kitchen"]
    );
    assert_eq!(
        ids(&hub.json(&["device", "list", "--kind", "sensor"])),
        ["porch"]
    );
    assert_eq!(
        ids(&hub.json(&["device", "list", "--search", "KIT"])),
        ["kitchen"]
    );
    assert_eq!(
        ids(&hub.json(&["device", "list", "--limit", "1"])),
        ["kitchen"]
    );
    assert_eq!(
        hub.json(&["device", "list", "--offline"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        hub.json(&["device", "list", "--online"]),
        Value::Array(vec![])
    );
    let listed = hub.json(&["device", "list", "--app", "lights", "--group", "home"]);
    assert_eq!(ids(&listed), ["kitchen", "porch"]);
    let table = hub.ok(&["device", "list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains("Kitchen") && table.contains("offline"),
        "{table}"
    );
    let text = hub.ok(&["device", "show", "kitchen"]);
    assert!(
        text.contains("thermostat") && text.contains("60 s"),
        "{text}"
    );

    hub.ok(&["device", "remove", "porch"]);
    assert_eq!(ids(&hub.json(&["device", "list"])), ["kitchen"]);
    assert_eq!(
        hub.json_error(&["device", "show", "porch"])["code"],
        "not_found"
    );
    assert_eq!(
        hub.json(&["app", "show", "lights"])["devices"],
        1,
        "app show counts devices"
    );
}

fn device_state_changes(hub: Hub) {
    let hub = hub.with_home_and_lights();
    let first = hub.json(&["device", "add", "lamp"])["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    hub.ok(&["device", "disable", "lamp"]);
    assert_eq!(hub.json(&["device", "show", "lamp"])["enabled"], false);
    assert!(hub.ok(&["device", "show", "lamp"]).contains("disabled"));
    assert!(hub.ok(&["device", "list"]).contains("disabled"));
    hub.ok(&["device", "enable", "lamp"]);
    assert_eq!(hub.json(&["device", "show", "lamp"])["enabled"], true);

    let rotated = hub.json(&["device", "rotate-secret", "lamp"]);
    assert_eq!(rotated["id"], "lamp");
    let second = rotated["secret"].as_str().unwrap();
    assert_eq!(second.len(), 32);
    assert_ne!(second, first);
    let text = hub.ok(&["device", "rotate-secret", "lamp"]);
    assert!(text.contains("mosquitto_pub"), "{text}");
    assert_eq!(hub.json(&["device", "show", "lamp"])["id"], "lamp");
}

fn mistakes_exit_1_and_name_what_was_wrong(hub: Hub) {
    let hub = hub.with_home_and_lights();
    hub.ok(&["device", "add", "kitchen"]);

    let stderr = hub.fails(&["device", "add", "kitchen"]);
    assert!(
        stderr.contains("device \"kitchen\" already exists"),
        "{stderr}"
    );
    assert_eq!(
        hub.json_error(&["device", "add", "kitchen"])["code"],
        "conflict"
    );

    let stderr = hub.fails(&["device", "add", "a/b"]);
    assert!(stderr.starts_with("error: id: "), "{stderr}");
    let error = hub.json_error(&["device", "add", "a/b"]);
    assert_eq!(error["code"], "invalid");
    assert_eq!(error["field"], "id");
    assert!(
        error["message"].as_str().unwrap().contains("a/b"),
        "{error}"
    );

    let stderr = hub.fails(&["device", "add", "x", "--app", "nope"]);
    assert!(stderr.contains("nope"), "{stderr}");
    assert_eq!(
        hub.json_error(&["device", "add", "x", "--app", "nope"])["code"],
        "not_found"
    );
    let stderr = hub.fails(&["device", "list", "--group", "nope"]);
    assert!(stderr.contains("group \"nope\" not found"), "{stderr}");
    assert_eq!(
        hub.json_error(&["device", "list", "--app", "nope"])["code"],
        "not_found"
    );
    let error = hub.json_error(&["device", "add", "y", "--metadata", "[1]"]);
    assert_eq!(error["field"], "metadata");
    let error = hub.json_error(&["device", "add", "y", "--heartbeat-timeout", "1"]);
    assert_eq!(error["field"], "heartbeat_timeout_secs");

    // A group with applications cannot go; an application with devices neither.
    let stderr = hub.fails(&["group", "remove", "home"]);
    assert!(stderr.len() > "error: ".len(), "{stderr}");
    assert_eq!(
        hub.json_error(&["group", "remove", "home"])["code"],
        "refused"
    );
    assert_eq!(
        hub.json_error(&["app", "remove", "lights"])["code"],
        "refused"
    );
    assert_eq!(ids(&hub.json(&["group", "list"])), ["home"]);

    // Usage errors are clap's: status 2.
    for args in [
        &["device", "add"][..],
        &["device", "frob"],
        &["device", "list", "--online", "--offline"],
        &["group", "member", "home", "alice"],
        &["group", "member", "home", "alice", "boss"],
        &["app", "add", "no-group"],
    ] {
        let output = hub.run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
    }
    assert_eq!(
        ids(&hub.json(&["device", "list"])),
        ["kitchen"],
        "nothing was added"
    );
}

fn write_csv(hub: &Hub, name: &str, text: &str) -> String {
    let path = hub.path(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn csv_import_registers_every_row(hub: Hub) {
    let hub = hub.with_home_and_lights();
    let mut text = String::from("id,name,room,kind,heartbeat_timeout_secs\n");
    for n in 0..200 {
        text.push_str(&format!(
            "sensor-{n:03},Sensor {n},room {},sensor,300\n",
            n % 7
        ));
    }
    let csv = write_csv(&hub, "devices.csv", &text);
    let secrets_path = hub.path("secrets.csv");
    let stdout = hub.ok(&[
        "device",
        "import",
        &csv,
        "--app",
        "lights",
        "--output",
        secrets_path.to_str().unwrap(),
    ]);
    assert!(stdout.contains("200"), "{stdout}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let written = std::fs::read_to_string(&secrets_path).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("id,secret"));
    let rows: Vec<(&str, &str)> = lines.map(|line| line.split_once(',').unwrap()).collect();
    assert_eq!(rows.len(), 200);
    let distinct: HashSet<&str> = rows.iter().map(|(_, secret)| *secret).collect();
    assert_eq!(distinct.len(), 200, "every device has its own secret");
    assert!(rows.iter().all(|(_, secret)| secret.len() == 32));

    let listed = hub.json(&["device", "list", "--app", "lights"]);
    assert_eq!(listed.as_array().unwrap().len(), 200);
    let shown = hub.json(&["device", "show", "sensor-123"]);
    assert_eq!(shown["name"], "Sensor 123");
    assert_eq!(shown["room"], "room 4");
    assert_eq!(shown["heartbeat_timeout_secs"], 300);

    // The secrets file is never overwritten.
    let again = write_csv(&hub, "more.csv", "id\nextra\n");
    let error = hub.json_error(&[
        "device",
        "import",
        &again,
        "--output",
        secrets_path.to_str().unwrap(),
    ]);
    assert_eq!(error["field"], "output");
    assert_eq!(std::fs::read_to_string(&secrets_path).unwrap(), written);

    // Without --output: `id,secret` on stdout, or a JSON array.
    let stdout = hub.ok(&["device", "import", &again]);
    assert!(stdout.starts_with("id,secret\nextra,"), "{stdout}");
    let last = write_csv(&hub, "last.csv", "id,app\nlast-1,lights\nlast-2,\n");
    let imported = hub.json(&["device", "import", &last]);
    assert_eq!(ids(&imported), ["last-1", "last-2"]);
    assert!(imported[0]["secret"].is_string());
}

fn csv_import_with_a_bad_row_registers_nothing(hub: Hub) {
    let hub = hub.with_home_and_lights();
    let mut text = String::from("id,name\n");
    for n in 1..=100 {
        let id = if n == 57 {
            "bad/id".to_owned()
        } else {
            format!("d{n}")
        };
        text.push_str(&format!("{id},Device {n}\n"));
    }
    let csv = write_csv(&hub, "devices.csv", &text);
    let secrets = hub.path("secrets.csv");
    let stderr = hub.fails(&[
        "device",
        "import",
        &csv,
        "--output",
        secrets.to_str().unwrap(),
    ]);
    assert!(stderr.contains("row 57"), "{stderr}");
    assert!(!secrets.exists(), "no secrets file for a failed import");
    assert_eq!(hub.json(&["device", "list"]), Value::Array(vec![]));

    let duplicate = write_csv(&hub, "dup.csv", "id\na\nb\na\n");
    let error = hub.json_error(&["device", "import", &duplicate]);
    assert!(
        error["message"].as_str().unwrap().contains("row 3"),
        "{error}"
    );

    hub.ok(&["device", "add", "taken"]);
    let taken = write_csv(&hub, "taken.csv", "id\nnew-1\ntaken\n");
    let stderr = hub.fails(&["device", "import", &taken]);
    assert!(stderr.contains("\"taken\" already exists"), "{stderr}");

    let unknown = write_csv(&hub, "unknown.csv", "id,colour\nx,red\n");
    let stderr = hub.fails(&["device", "import", &unknown]);
    assert!(stderr.contains("\"colour\""), "{stderr}");
    let timeout = write_csv(&hub, "timeout.csv", "id,heartbeat_timeout_secs\nx,soon\n");
    let error = hub.json_error(&["device", "import", &timeout]);
    assert_eq!(error["field"], "heartbeat_timeout_secs");
    assert!(
        error["message"].as_str().unwrap().contains("row 1"),
        "{error}"
    );
    let no_app = write_csv(&hub, "no-app.csv", "id,app\nx,nope\n");
    let stderr = hub.fails(&["device", "import", &no_app]);
    assert!(stderr.contains("nope"), "{stderr}");

    assert_eq!(ids(&hub.json(&["device", "list"])), ["taken"]);
}

/// SQLite only: where the store is found when no flag says.
#[test]
fn the_data_directory_defaults_to_data_and_follows_hearth_toml_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: Option<(&str, &str)>| {
        let mut command = hearth(dir.path());
        command.args(args);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert_success(args, &output);
        String::from_utf8(output.stdout).unwrap()
    };
    run(&["group", "add", "home"], None);
    assert!(dir.path().join("data/hearth.db").exists());

    std::fs::write(dir.path().join("hearth.toml"), "data_dir = \"elsewhere\"\n").unwrap();
    assert!(run(&["group", "list"], None).contains("no groups"));
    run(&["group", "add", "office"], None);
    assert!(dir.path().join("elsewhere/hearth.db").exists());

    // Flags (after the command too) and variables win over the file.
    assert!(run(&["group", "list", "--data-dir", "data"], None).contains("home"));
    assert!(run(&["group", "list"], Some(("HEARTH_DATA_DIR", "data"))).contains("home"));
    let url = format!("sqlite://{}", dir.path().join("data/hearth.db").display());
    assert!(run(&["group", "list"], Some(("HEARTH_DATABASE", &url))).contains("home"));
}

#[test]
fn an_unknown_database_url_is_refused_with_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let output = hearth(dir.path())
        .args([
            "--database",
            "mysql://nowhere/db",
            "device",
            "list",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mysql")
    );
    assert_eq!(value["error"]["code"], "refused");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("error: "), "{stderr}");
}
