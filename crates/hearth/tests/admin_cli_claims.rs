//! Claiming from the command line (issue 23): `device add --unclaimed` prints the
//! secret, the claim code and the claim URL once; `device label` prints the claim URL
//! as an SVG QR code for the current code (or a new code, retiring the old one);
//! `device unclaim` gives a new secret and code; `device import --unclaimed` registers a
//! CSV file's devices unclaimed, all or nothing. SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;

both_backends!(
    unclaimed_devices_labels_and_unclaiming,
    a_csv_file_of_unclaimed_devices
);

fn unclaimed_devices_labels_and_unclaiming(hub: Hub) {
    let hub = hub.with_home_and_lights();
    let made = hub.json(&[
        "device",
        "add",
        "lock-1",
        "--unclaimed",
        "--kind",
        "lock",
        "--url",
        "https://hub.example",
    ]);
    let code = made["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 16);
    assert_eq!(made["secret"].as_str().unwrap().len(), 32);
    assert_eq!(
        made["claim_url"],
        format!("https://hub.example/claim?d=lock-1&c={code}")
    );
    // Waiting in the holding application; the hub's only application is still the
    // default for a plain `device add`.
    assert_eq!(
        hub.json(&["device", "show", "lock-1"])["application"],
        "_unclaimed"
    );
    assert_eq!(
        hub.json(&["device", "add", "lamp"])["application"],
        "lights"
    );
    // --unclaimed with an application or a room is a usage error.
    let mixed = hub.run(&["device", "add", "x", "--unclaimed", "--app", "lights"]);
    assert_eq!(mixed.status.code(), Some(2), "{}", describe(&mixed));

    let svg = hub.ok(&[
        "device",
        "label",
        "lock-1",
        "--code",
        &code,
        "--url",
        "https://hub.example",
    ]);
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    let wrong = hub.fails(&[
        "device",
        "label",
        "lock-1",
        "--code",
        "AAAAAAAAAAAAAAAA",
        "--url",
        "https://h",
    ]);
    assert!(wrong.contains("code"), "{wrong}");
    // Without --code: a new code (on stderr), and the printed one is retired.
    let relabel = hub.run(&["device", "label", "lock-1", "--url", "https://hub.example"]);
    assert_success(&["device", "label"], &relabel);
    let stderr = String::from_utf8(relabel.stderr).unwrap();
    assert!(stderr.contains("new claim code for lock-1"), "{stderr}");
    hub.fails(&[
        "device",
        "label",
        "lock-1",
        "--code",
        &code,
        "--url",
        "https://h",
    ]);
    // A device that was never unclaimed has no label.
    let lamp = hub.fails(&["device", "label", "lamp", "--url", "https://h"]);
    assert!(lamp.contains("not waiting to be claimed"), "{lamp}");

    let again = hub.json(&[
        "device",
        "unclaim",
        "lock-1",
        "--url",
        "https://hub.example",
    ]);
    assert_ne!(again["code"], made["code"]);
    assert_ne!(again["secret"], made["secret"]);
}

fn a_csv_file_of_unclaimed_devices(hub: Hub) {
    let hub = hub.with_home_and_lights();
    let file = write_csv(
        &hub,
        "locks.csv",
        "id,name,kind\nlock-a,Front,lock\nlock-b,Back,lock\n",
    );
    let rows = hub.json(&[
        "device",
        "import",
        &file,
        "--unclaimed",
        "--url",
        "https://hub.example",
    ]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, id) in rows.iter().zip(["lock-a", "lock-b"]) {
        let code = row["code"].as_str().unwrap();
        assert_eq!((row["id"].as_str().unwrap(), code.len()), (id, 16));
        assert_eq!(
            row["claim_url"],
            format!("https://hub.example/claim?d={id}&c={code}")
        );
        assert_eq!(
            hub.json(&["device", "show", id])["application"],
            "_unclaimed"
        );
        // The printed code is the device's current one.
        hub.ok(&["device", "label", id, "--code", code, "--url", "https://h"]);
    }
    // A row naming an application or a room is refused, and nothing is registered.
    let mixed = write_csv(&hub, "mixed.csv", "id,room\nlock-c,\nlock-d,hall\n");
    let refused = hub.fails(&[
        "device",
        "import",
        &mixed,
        "--unclaimed",
        "--url",
        "https://h",
    ]);
    assert!(refused.contains("row 2"), "{refused}");
    hub.fails(&["device", "show", "lock-c"]);
    // Plain text: the header and one row per device.
    let text = write_csv(&hub, "more.csv", "id\nlock-e\n");
    let out = hub.ok(&[
        "device",
        "import",
        &text,
        "--unclaimed",
        "--url",
        "https://h",
    ]);
    assert!(
        out.starts_with("id,secret,code,claim_url\nlock-e,"),
        "{out}"
    );
}
