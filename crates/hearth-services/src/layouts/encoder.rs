//! [`LayoutEncoder`]: the commands service's [`CommandEncoder`] over the layouts the
//! authorizer holds.

use crate::RegistryAuthorizer;
use crate::commands::CommandEncoder;
use hearth_model::Command;
use hearth_model::layout::RenderedCommand;
use std::sync::Arc;

/// Puts a command for a device with a layout on the layout's topic, in its payload.
pub struct LayoutEncoder {
    pub authorizer: Arc<RegistryAuthorizer>,
    /// Where devices are attached now (issue 20): a site's device connected to this
    /// hub itself gets its commands here, not through its site.
    pub attachments: Option<crate::ingest::Attachments>,
}

impl CommandEncoder for LayoutEncoder {
    fn encode(&self, command: &Command) -> Option<Result<RenderedCommand, String>> {
        let directory = self.authorizer.layouts();
        let mapped = directory.devices.get(command.device.as_str())?;
        let layout = &mapped.layout.layout;
        // A layout without command rules maps only what the device publishes.
        if layout.commands.is_empty() {
            return None;
        }
        let Some(rule) = layout.command_rule(&command.name) else {
            return Some(Err(format!(
                "the device's topic layout has no rule for command {:?}",
                command.name
            )));
        };
        Some(rule.render(&command.name, &command.params, &|var| mapped.var(var)))
    }

    fn site_of(&self, device: &str) -> Option<Arc<str>> {
        let direct = self.attachments.as_ref().is_some_and(|attachments| {
            attachments.get(device) == Some(crate::ingest::Attachment::Direct)
        });
        if direct {
            return None;
        }
        self.authorizer.site_of(device)
    }
}
