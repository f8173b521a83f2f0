//! Topic layouts at work (issue 18; the document is `hearth_model::layout`, stored by
//! `LayoutStore`, changed through the `Registry`).
//!
//! The layouts live in the authorizer's snapshot as a [`LayoutDirectory`], so that the
//! ACL (`auth/layout_acl.rs`), the [`Translator`] and the commands' [`LayoutEncoder`]
//! see the same layouts after every reload of the registry.
//!
//! # Layout
//! - `directory`: [`LayoutDirectory`], mapped devices with their compiled layouts.
//! - `translate`: [`Translator`], foreign messages into ingest and onto Hearth's topics.
//! - `encoder`: [`LayoutEncoder`], commands into the device's topic and payload.
//! - `config`: `[layouts.<app>]` of hearth.toml, applied at start.

mod config;
mod directory;
mod encoder;
mod translate;

pub use config::{LayoutSource, apply_configured};
pub use directory::{CompiledLayout, LayoutDirectory, MappedDevice};
pub use encoder::LayoutEncoder;
pub use translate::{Translator, TranslatorCounters};
