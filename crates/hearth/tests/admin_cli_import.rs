//! The registry CLI's bulk import (`hearth device import`) and how it finds its store
//! (data directory, hearth.toml, environment), on the real binary; import flows on
//! SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;
use serde_json::Value;
use std::collections::HashSet;

both_backends!(
    csv_import_registers_every_row,
    csv_import_with_a_bad_row_registers_nothing,
);

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
fn an_unknown_database_url_is_refused_naming_its_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let output = hearth(dir.path())
        .args([
            "--database",
            "oracle://scott:tiger-secret@nowhere/db",
            "device",
            "list",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    let message = value["error"]["message"].as_str().unwrap();
    assert!(message.contains("\"oracle\""), "{message}");
    // The rest of a URL may hold a password: never repeated.
    assert!(!message.contains("tiger-secret"), "{message}");
    assert_eq!(value["error"]["code"], "refused");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("error: "), "{stderr}");
}
