//! The presence vocabulary of `devices/{id}/status` (SPEC §4), written once: ingest reads
//! device payloads with it, the hub announces with it, and the web app's copy is checked
//! against it (`web/tests/fixtures/device-protocol.json`).

use serde::{Deserialize, Serialize};

/// What a status message says about a device being reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevicePresence {
    Online,
    Offline,
}

/// The words devices use for presence, and what each means. Firmware in the wild says
/// `up`/`down` and `connected`/`disconnected` as often as the protocol's own
/// `online`/`offline`; all of them are read, in any case, with blanks around.
pub const PRESENCE_WORDS: [(&str, DevicePresence); 6] = [
    ("online", DevicePresence::Online),
    ("connected", DevicePresence::Online),
    ("up", DevicePresence::Online),
    ("offline", DevicePresence::Offline),
    ("disconnected", DevicePresence::Offline),
    ("down", DevicePresence::Offline),
];

impl DevicePresence {
    /// The word the hub itself publishes (`online` or `offline`, retained).
    pub fn as_str(self) -> &'static str {
        match self {
            DevicePresence::Online => "online",
            DevicePresence::Offline => "offline",
        }
    }

    /// One presence word (see [`PRESENCE_WORDS`]).
    pub fn from_word(text: &str) -> Option<DevicePresence> {
        let text = text.trim();
        PRESENCE_WORDS
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(text))
            .map(|(_, presence)| *presence)
    }

    /// What a `status` payload says about presence; `None` when it says neither (a JSON
    /// status without an online field: the device is then online, since it spoke).
    /// Accepts a presence word, a JSON string of one, and objects with `"online": bool`
    /// or `"status": word`.
    pub fn from_status_payload(payload: &[u8]) -> Option<DevicePresence> {
        let text = std::str::from_utf8(payload).ok()?;
        if let Some(presence) = DevicePresence::from_word(text) {
            return Some(presence);
        }
        match serde_json::from_str::<serde_json::Value>(text).ok()? {
            serde_json::Value::String(inner) => DevicePresence::from_word(&inner),
            serde_json::Value::Object(map) => match (map.get("online"), map.get("status")) {
                (Some(serde_json::Value::Bool(true)), _) => Some(DevicePresence::Online),
                (Some(serde_json::Value::Bool(false)), _) => Some(DevicePresence::Offline),
                (_, Some(serde_json::Value::String(status))) => DevicePresence::from_word(status),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn is_online(self) -> bool {
        self == DevicePresence::Online
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DevicePresence::{Offline, Online};

    #[test]
    fn status_payloads_in_the_forms_devices_send() {
        let read = DevicePresence::from_status_payload;
        assert_eq!(read(b"online"), Some(Online));
        assert_eq!(read(b" OFFLINE\n"), Some(Offline));
        assert_eq!(read(b"down"), Some(Offline));
        assert_eq!(read(b"\"online\""), Some(Online));
        assert_eq!(read(br#"{"online": false, "rssi": -60}"#), Some(Offline));
        assert_eq!(read(br#"{"status": "online"}"#), Some(Online));
        assert_eq!(read(br#"{"status": "down"}"#), Some(Offline));
        assert_eq!(read(br#"{"battery": 80}"#), None);
        assert_eq!(read(b"rebooting"), None);
        assert_eq!(read(&[0xff]), None);
    }

    #[test]
    fn the_hub_announces_with_the_words_it_reads() {
        for presence in [Online, Offline] {
            assert_eq!(DevicePresence::from_word(presence.as_str()), Some(presence));
            assert_eq!(
                serde_json::to_value(presence).unwrap(),
                serde_json::json!(presence.as_str())
            );
        }
    }
}
