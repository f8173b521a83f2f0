//! The archive without a running hub: the CLI copies the broker state itself, a
//! restore gives files their modes back, refuses a non-empty directory, and refuses a
//! damaged archive naming the entry, before it writes anything.

use crate::{backup, restore, text};
use hearth_testkit::{Backend, start_hub_with};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

#[tokio::test]
async fn without_a_hub_the_cli_backs_up_and_a_damaged_archive_is_refused_by_entry() {
    let (mut data_dir, mut database) = (PathBuf::new(), None);
    let mut hub = start_hub_with(Backend::Sqlite, |config| {
        data_dir = config.data_dir.clone();
        database = config.database.clone();
    })
    .await;
    // A key of another component, in a subdirectory, with its own mode.
    std::fs::create_dir_all(data_dir.join("tls")).unwrap();
    std::fs::write(data_dir.join("tls/ca.key"), "not really a key").unwrap();
    std::fs::set_permissions(
        data_dir.join("tls/ca.key"),
        PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(data_dir.join("notes.txt"), "readable").unwrap();
    std::fs::set_permissions(data_dir.join("notes.txt"), PermissionsExt::from_mode(0o644)).unwrap();
    hub.shutdown_keeping_data().await;

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("hub.tar");
    let output = backup(&file, &data_dir, database.as_deref()).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("no hub running"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A second backup to the same name is refused without --force.
    let again = backup(&file, &data_dir, database.as_deref()).await;
    assert!(!again.status.success());

    // Restored: modes come back, keys stay 0600.
    let restored = work.path().join("restored");
    let output = restore(&file, &restored, None).await;
    assert!(output.status.success(), "{}", text(&output));
    let mode = |path: &str| {
        std::fs::metadata(restored.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("tls/ca.key"), 0o600);
    assert_eq!(mode("vapid.pem"), 0o600);
    assert_eq!(mode("notes.txt"), 0o644);
    assert_eq!(mode("hearth.db"), 0o600);
    assert_eq!(
        std::fs::read(restored.join("vapid.pem")).unwrap(),
        std::fs::read(data_dir.join("vapid.pem")).unwrap()
    );
    assert!(restored.join("broker.redb").is_file());
    assert!(!restored.join("hearth.sock").exists());

    // Not over a non-empty directory.
    let output = restore(&file, &restored, None).await;
    assert!(!output.status.success());
    assert!(text(&output).contains("not empty"), "{}", text(&output));

    // With --force it does, and a WAL left there is not replayed into the restored database.
    std::fs::write(restored.join("hearth.db-wal"), "stale").unwrap();
    std::fs::write(restored.join("vapid.pem"), "changed").unwrap();
    let output = crate::hearth(&[
        "restore".as_ref(),
        file.as_os_str(),
        "--force".as_ref(),
        "--data-dir".as_ref(),
        restored.as_os_str(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(!restored.join("hearth.db-wal").exists());
    assert_eq!(
        std::fs::read(restored.join("vapid.pem")).unwrap(),
        std::fs::read(data_dir.join("vapid.pem")).unwrap()
    );

    // One flipped byte inside an entry: refused, naming it, and nothing written.
    let damaged = work.path().join("damaged.tar");
    let mut bytes = std::fs::read(&file).unwrap();
    let offset = {
        let mut archive = tar::Archive::new(std::fs::File::open(&file).unwrap());
        let entry = archive
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|entry| entry.path().unwrap().to_string_lossy() == "files/tls/ca.key")
            .expect("the key is in the archive");
        entry.raw_file_position() as usize
    };
    bytes[offset + 3] ^= 0x20;
    std::fs::write(&damaged, bytes).unwrap();
    let fresh = work.path().join("fresh");
    let output = restore(&damaged, &fresh, None).await;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("entry files/tls/ca.key"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("SHA-256"), "{}", text(&output));
    assert!(!fresh.exists(), "nothing written for a damaged archive");
    drop(hub);
}
