//! The control socket as an intruder meets it: the owner's only (mode 0600; other
//! users cannot be tried as root), and anything but its two requests is refused.

use hearth_testkit::{Backend, start_hub_with};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

async fn ask_bytes(socket: &std::path::Path, request: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(socket)
        .await
        .expect("the socket answers");
    // The hub may answer and close before it has read a long request whole.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    answer
}

async fn ask(socket: &std::path::Path, request: &[u8]) -> String {
    String::from_utf8_lossy(&ask_bytes(socket, request).await).into_owned()
}

#[tokio::test]
async fn the_control_socket_is_the_owners_only_and_refuses_unknown_requests() {
    let mut data_dir = PathBuf::new();
    let hub = start_hub_with(Backend::Sqlite, |config| data_dir = config.data_dir.clone()).await;
    let socket = data_dir.join("hearth.sock");
    let metadata = std::fs::metadata(&socket).expect("the hub made its control socket");
    assert!(metadata.file_type().is_socket());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);

    assert_eq!(
        ask(&socket, b"delete everything\n").await,
        "error unknown request\n"
    );
    assert_eq!(
        ask(&socket, b"snapshot-broker ../../etc/passwd\n").await,
        "error unknown request\n"
    );
    // A request longer than the limit is never read whole.
    let long = vec![b'a'; 100_000];
    assert_eq!(ask(&socket, &long).await, "error unknown request\n");
    assert!(ask(&socket, b"ping\n").await.starts_with("ok hearth "));
    // The broker state comes as a size line and that many bytes.
    let answer = ask_bytes(&socket, b"snapshot-broker\n").await;
    let newline = answer.iter().position(|byte| *byte == b'\n').unwrap();
    let (size, rest) = (
        String::from_utf8_lossy(&answer[..newline]),
        &answer[newline + 1..],
    );
    let size: usize = size.strip_prefix("ok ").unwrap().parse().unwrap();
    assert!(size > 0);
    assert_eq!(rest.len(), size);

    hub.shutdown().await;
    assert!(!socket.exists(), "a stopped hub removes its socket");
}

#[tokio::test]
async fn a_hub_without_broker_persistence_is_backed_up_without_broker_state() {
    let (mut data_dir, mut database) = (PathBuf::new(), None);
    let hub = start_hub_with(Backend::Sqlite, |config| {
        config.mqtt.persistence = false;
        data_dir = config.data_dir.clone();
        database = config.database.clone();
    })
    .await;
    assert_eq!(
        ask(&data_dir.join("hearth.sock"), b"snapshot-broker\n").await,
        "none\n"
    );
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("hub.tar");
    let output = crate::backup(&file, &data_dir, database.as_deref()).await;
    assert!(output.status.success(), "{}", crate::text(&output));
    let mut archive = tar::Archive::new(std::fs::File::open(&file).unwrap());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["manifest.json", "sql/hearth.db", "files/vapid.pem"]);
    // Never under a running hub, not even with --force.
    let output = crate::hearth(&[
        "restore".as_ref(),
        file.as_os_str(),
        "--force".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
    .await;
    assert!(!output.status.success());
    assert!(
        crate::text(&output).contains("a hub is running"),
        "{}",
        crate::text(&output)
    );
    hub.shutdown().await;
}
