//! `hub` of agent.toml: one hub's URL, or several in order of preference (issue 20:
//! the home hub first, then the cloud, or the other way round). One string keeps
//! working as it always did.

use serde::Deserialize;

/// One URL or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Hubs {
    One(String),
    Many(Vec<String>),
}

impl Hubs {
    /// The URLs in order of preference.
    pub fn urls(&self) -> &[String] {
        match self {
            Hubs::One(url) => std::slice::from_ref(url),
            Hubs::Many(urls) => urls,
        }
    }
}

/// A hub's host, port and whether it is `mqtts://`, from `mqtt://host[:port]` (1883)
/// or `mqtts://host[:port]` (8883); an error names the URL.
pub fn parse(url: &str) -> Result<(String, u16, bool), String> {
    let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("mqtt://") {
        (rest, false, 1883)
    } else if let Some(rest) = url.strip_prefix("mqtts://") {
        (rest, true, 8883)
    } else {
        return Err(format!(
            "hub {url:?}: give mqtt://host:port or mqtts://host:port"
        ));
    };
    let rest = rest.trim_end_matches('/');
    let bad_port = || format!("hub {url:?}: bad port");
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        // An IPv6 address: mqtt://[::1]:1883.
        let (host, after) = bracketed.split_once(']').ok_or_else(bad_port)?;
        match after.strip_prefix(':') {
            Some(port) => (host, port.parse().map_err(|_| bad_port())?),
            None if after.is_empty() => (host, default_port),
            None => return Err(bad_port()),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad_port())?),
            None => (rest, default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("hub {url:?}: no host"));
    }
    Ok((host.to_owned(), port, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_or_a_list_in_order() {
        #[derive(Deserialize)]
        struct File {
            hub: Hubs,
        }
        let one: File = toml::from_str("hub = \"mqtt://home.local\"").unwrap();
        assert_eq!(one.hub.urls(), ["mqtt://home.local"]);
        let two: File =
            toml::from_str("hub = [\"mqtt://home.local\", \"mqtts://cloud.example\"]").unwrap();
        let parsed: Vec<_> = two
            .hub
            .urls()
            .iter()
            .map(|url| parse(url).unwrap())
            .collect();
        assert_eq!(
            parsed,
            vec![
                ("home.local".to_owned(), 1883, false),
                ("cloud.example".to_owned(), 8883, true)
            ]
        );
        assert!(parse("http://x").unwrap_err().contains("http://x"));
        assert_eq!(
            parse("mqtt://[::1]:1884").unwrap(),
            ("::1".to_owned(), 1884, false)
        );
    }
}
