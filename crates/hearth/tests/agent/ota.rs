//! Firmware updates through `[ota]`.

use super::*;

/// Serves `body` to every GET on 127.0.0.1 (a firmware image for the `ota` command).
async fn serve_image(body: Vec<u8>) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn an_ota_command_is_downloaded_checked_and_installed_by_the_install_command() {
    use sha2::Digest;
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let image: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let server = serve_image(image.clone()).await;
    // The install command copies the image into place and records the version.
    let installed = dir.path().join("installed.bin");
    let version_file = dir.path().join("version");
    let script = dir.path().join("install.sh");
    std::fs::write(
        &script,
        format!(
            "cp \"$1\" '{}' && printf '%s' \"$2\" > '{}'\n",
            installed.display(),
            version_file.display()
        ),
    )
    .unwrap();
    let extra = format!(
        r#"
[ota]
dir = "{}"
install_command = "/bin/sh"
args = ["{}"]
version_file = "{}"
"#,
        dir.path().join("ota").display(),
        script.display(),
        version_file.display()
    );
    let config = setup(&hub, hub.mqtt(), dir.path(), &extra).await;
    let agent = Agent::start(config.clone(), Arc::new(SimGpio::new()))
        .await
        .unwrap();
    connected(&agent).await;
    let send = async |sha256: String, version: &str| {
        let params = json!({
            "url": format!("http://{server}/fw.bin"), "sha256": sha256,
            "size": image.len(), "version": version,
        });
        let sent = hub
            .commands()
            .send("test", &ids::device("pi1"), "ota", params, None)
            .await
            .unwrap();
        finished(&hub, &sent.id).await
    };
    // A checksum that does not match: nothing is installed, the failure is reported.
    let command = send("0".repeat(64), "2.0").await;
    assert_eq!(command.status, CommandStatus::Acked, "accepted at once");
    until("the failure reported", async || {
        events(&hub)
            .await
            .contains(&json!({"ota": "failed", "error": "checksum mismatch"}))
    })
    .await;
    assert!(!installed.exists());

    let digest = hex::encode(sha2::Sha256::digest(&image));
    let command = send(digest, "2.0").await;
    assert_eq!(command.status, CommandStatus::Acked);
    until("the new version reported", async || {
        data(&hub)
            .await
            .contains(&json!({"firmware_version": "2.0"}))
    })
    .await;
    assert_eq!(std::fs::read(&installed).unwrap(), image);
    // After a restart (the install would reboot a real board) the version is reported
    // from the version file.
    agent.shutdown().await;
    let agent = Agent::start(config, Arc::new(SimGpio::new()))
        .await
        .unwrap();
    until("the version reported at start", async || {
        data(&hub)
            .await
            .iter()
            .filter(|v| **v == json!({"firmware_version": "2.0"}))
            .count()
            >= 2
    })
    .await;
    agent.shutdown().await;
    hub.shutdown().await;
}
