//! The seam through which a command reaches a device that does not speak Hearth's
//! topics: a device with a topic layout (issue 18) gets its commands on its own topic,
//! in its own payload, and acknowledges them with a foreign message
//! ([`super::Commands::foreign_ack`]).

use hearth_model::Command;
use hearth_model::layout::RenderedCommand;

/// Turns a command into the device's own form. Consulted on every delivery.
pub trait CommandEncoder: Send + Sync + 'static {
    /// `None`: the device speaks Hearth's topics (`devices/{id}/commands/{name}`).
    /// `Some(Err(reason))`: it does not, and this command cannot be put in its form
    /// (no rule, a missing param): the command fails with the reason.
    fn encode(&self, command: &Command) -> Option<Result<RenderedCommand, String>>;

    /// The site (issue 20, a home hub linked to this one) whose link carries the
    /// device's commands, if any: the command then goes, in Hearth's form, on
    /// `sites/{site}/devices/{id}/commands/{name}` (the home hub puts it in the device's
    /// own form), and the device's answer comes back through the site.
    fn site_of(&self, _device: &str) -> Option<std::sync::Arc<str>> {
        None
    }
}
