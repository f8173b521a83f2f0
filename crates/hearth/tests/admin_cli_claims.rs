//! Claiming from the command line (issue 23): `device add --unclaimed` prints the
//! secret, the claim code and the claim URL once; `device label` prints the claim URL
//! as an SVG QR code for the current code (or a new code, retiring the old one);
//! `device unclaim` gives a new secret and code. SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;

both_backends!(unclaimed_devices_labels_and_unclaiming);

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
