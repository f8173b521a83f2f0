//! The registry CLI (`hearth group|user|app|device ...`) as people and scripts run it:
//! the real binary, a fresh store per test, every flow on SQLite (`--data-dir`) and on
//! PostgreSQL (`--database`, from `HEARTH_TEST_POSTGRES`; missing, those tests fail).

#[macro_use]
mod admin;

use admin::*;
use serde_json::Value;

both_backends!(
    groups_and_members,
    users,
    apps_and_grants,
    devices,
    device_state_changes,
    mistakes_exit_1_and_name_what_was_wrong,
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
    hub.ok(&["device", "add", "relay-1"]);
    // No hub is running: the command is recorded and stays pending; exit status 1.
    let stderr = hub.fails(&[
        "device",
        "command",
        "relay-1",
        "relay",
        "--params",
        r#"{"on": true}"#,
        "--wait",
        "1",
    ]);
    assert!(stderr.contains("still pending"), "{stderr}");
    let error = hub.json_error(&["device", "command", "relay-1", "relay", "--params", "[1]"]);
    assert_eq!(error["field"], "params", "{error}");
    let error = hub.json_error(&["device", "command", "relay-1", "a/b", "--wait", "0"]);
    assert_eq!(error["field"], "name", "{error}");
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
