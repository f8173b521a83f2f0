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
