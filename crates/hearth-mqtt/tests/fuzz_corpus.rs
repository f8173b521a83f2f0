//! Replays the fuzzing seed corpus (`fuzz/corpus/decode` at the repository root) on
//! stable Rust, with the same checks as the fuzz target, so the seeds, which include
//! real traffic captured between mosquitto 2.0.11 and its clients, keep working
//! without nightly.

mod common;

use std::fs;
use std::path::Path;

use hearth_mqtt::ProtocolVersion;

const VERSIONS: [Option<ProtocolVersion>; 4] = [
    None,
    Some(ProtocolVersion::V3_1),
    Some(ProtocolVersion::V3_1_1),
    Some(ProtocolVersion::V5),
];

#[test]
fn every_corpus_file_decodes_cleanly_in_every_version() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode");
    let mut n_files = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let decoded: Vec<usize> = VERSIONS
            .iter()
            .map(|version| common::replay(&data, *version).len())
            .collect();

        // The captured sessions must decode whole in the version they were recorded in.
        if name.starts_with("mosquitto-") {
            let version = if name.contains("-v3_1-") {
                ProtocolVersion::V3_1
            } else if name.contains("-v3_1_1-") {
                ProtocolVersion::V3_1_1
            } else {
                ProtocolVersion::V5
            };
            let (start, min_packets) = if name.ends_with("-client") {
                (None, 3)
            } else {
                (Some(version), 2)
            };
            let packets = common::replay(&data, start);
            assert!(
                packets.len() >= min_packets,
                "{name}: only {} packets decoded",
                packets.len()
            );
            let total: usize = packets
                .iter()
                .map(|packet| hearth_mqtt::encoded_len(packet, version))
                .sum();
            assert!(total <= data.len(), "{name}: re-encoding grew the session");
        } else {
            assert!(
                decoded.iter().any(|n| *n > 0),
                "{name}: decodes in no version"
            );
        }
        n_files += 1;
    }
    assert!(
        n_files >= 20,
        "only {n_files} corpus files in {}",
        dir.display()
    );
}
