//! `[layouts.<app id>]` in hearth.toml: an application's layout written in the
//! configuration (inline, or `file = "..."` naming a layout file), applied when the hub
//! starts. The configuration wins at each start: a layout changed through the API or the
//! CLI meanwhile is replaced by the configured one (and the change is audited).

use crate::Registry;
use hearth_model::AppId;
use hearth_model::layout::Layout;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One `[layouts.<app id>]` table: the layout itself, or `file = "path"` (a TOML file of
/// the same shape; a relative path is relative to the hub's working directory).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum LayoutSource {
    File { file: PathBuf },
    Inline(Layout),
}

impl<'de> Deserialize<'de> for LayoutSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        if let Some(file) = value.get("file") {
            if value.as_object().is_some_and(|map| map.len() > 1) {
                return Err(D::Error::custom(
                    "a layout is either `file = \"...\"` or written inline, not both",
                ));
            }
            let file = file
                .as_str()
                .ok_or_else(|| D::Error::custom("file: must be a path"))?;
            return Ok(LayoutSource::File { file: file.into() });
        }
        serde_json::from_value(value)
            .map(LayoutSource::Inline)
            .map_err(D::Error::custom)
    }
}

impl LayoutSource {
    /// The layout (reading the file if it is one); the error names the file.
    pub fn layout(&self) -> Result<Layout, String> {
        match self {
            LayoutSource::Inline(layout) => Ok(layout.clone()),
            LayoutSource::File { file } => {
                let text = std::fs::read_to_string(file)
                    .map_err(|error| format!("{}: {error}", file.display()))?;
                toml::from_str(&text).map_err(|error| format!("{}: {error}", file.display()))
            }
        }
    }
}

/// Applies the configured layouts (`[layouts]`): each is checked and stored for its
/// application unless it is already the stored one. An application that does not exist
/// (yet) or a layout that does not check out is an error naming `layouts.<app>`.
pub async fn apply_configured(
    registry: &Registry,
    layouts: &BTreeMap<String, LayoutSource>,
) -> Result<usize, String> {
    let mut applied = 0;
    for (app, source) in layouts {
        let at = format!("layouts.{app}");
        let id = AppId::new(app).map_err(|error| format!("{at}: {error}"))?;
        let layout = source.layout().map_err(|error| format!("{at}: {error}"))?;
        let stored = registry
            .app_layout(&id)
            .await
            .map_err(|error| format!("{at}: {error}"))?;
        if stored.as_ref() == Some(&layout) {
            continue;
        }
        registry
            .set_app_layout("config", &id, Some(&layout))
            .await
            .map_err(|error| format!("{at}: {error}"))?;
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::layout::LayoutScope;

    #[derive(Debug, Deserialize)]
    struct Config {
        layouts: BTreeMap<String, LayoutSource>,
    }

    fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }

    #[test]
    fn a_table_is_a_file_or_an_inline_layout() {
        let config = parse(
            "[layouts.bulbs]\nfile = \"/etc/hearth/bulb.toml\"\n\
             [layouts.locks]\n[[layouts.locks.commands]]\nname = \"unlock\"\n\
             topic = \"/{id}/call\"\npayload = \"unlock\"\n",
        )
        .unwrap();
        assert_eq!(
            config.layouts["bulbs"],
            LayoutSource::File {
                file: "/etc/hearth/bulb.toml".into()
            }
        );
        let LayoutSource::Inline(locks) = &config.layouts["locks"] else {
            panic!("inline");
        };
        assert_eq!(locks.commands[0].payload, Some(serde_json::json!("unlock")));
        let both = parse("[layouts.x]\nfile = \"a\"\n[[layouts.x.inbound]]\ntopic = \"a/{id}\"\n");
        assert!(both.unwrap_err().contains("not both"));
        let unknown = parse("[layouts.x]\ntopics = 1\n").unwrap_err();
        assert!(unknown.contains("unknown field `topics`"), "{unknown}");
    }

    #[test]
    fn the_examples_in_hearth_example_toml_are_valid_layouts() {
        let example = include_str!("../../../../hearth.example.toml");
        let block: String = example
            .lines()
            .skip_while(|line| !line.starts_with("# [layouts."))
            .map_while(|line| line.strip_prefix('#'))
            .map(|line| format!("{}\n", line.strip_prefix(' ').unwrap_or(line)))
            .collect();
        let config = parse(&block).unwrap();
        assert_eq!(config.layouts.len(), 2, "{block}");
        let LayoutSource::Inline(locks) = &config.layouts["locks"] else {
            panic!("inline");
        };
        locks.validate(LayoutScope::App).unwrap();
    }

    #[test]
    fn the_shipped_layout_files_are_valid() {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/layouts");
        for file in ["seed-001-bulb.toml", "seed-004-lock.toml"] {
            let source = LayoutSource::File {
                file: std::path::Path::new(docs).join(file),
            };
            let layout = source.layout().unwrap();
            layout.validate(LayoutScope::App).unwrap();
        }
        let missing = LayoutSource::File {
            file: "/nonexistent/layout.toml".into(),
        };
        assert!(
            missing
                .layout()
                .unwrap_err()
                .contains("/nonexistent/layout.toml")
        );
    }
}
