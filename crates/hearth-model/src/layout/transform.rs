//! Payload transforms: a foreign message into Hearth's form, a Hearth command into the
//! device's. Pure functions, so every odd payload can be pinned down in a unit test.

use super::{CommandRule, InboundKind, InboundRule, Pattern, PayloadFormat};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A foreign message in Hearth's form.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub kind: InboundKind,
    /// What `devices/{id}/{kind}` carries: JSON for data, events and heartbeats; a
    /// presence word (or the device's JSON) for status.
    pub payload: Vec<u8>,
}

/// A command in the device's form.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedCommand {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Whether the payload is JSON (else plain text).
    pub json: bool,
}

/// A JSON value as the text a value map or a plain template looks it up by: strings as
/// they are, `true`/`false`, numbers as JSON writes them.
pub fn value_key(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        other => Cow::Owned(other.to_string()),
    }
}

/// A plain payload's value without a map: a number, `true`/`false`, or the text.
fn plain_value(text: &str) -> Value {
    if let Ok(integer) = text.parse::<i64>() {
        return Value::from(integer);
    }
    if let Ok(number) = text.parse::<f64>()
        && number.is_finite()
    {
        return Value::from(number);
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_owned()),
    }
}

/// The value at a dotted path (`meter.watts`, `list.0.x`).
fn at_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |value, step| match value {
        Value::Object(map) => map.get(step),
        Value::Array(items) => step.parse::<usize>().ok().and_then(|at| items.get(at)),
        _ => None,
    })
}

impl InboundRule {
    /// The message in Hearth's form; `None` when this rule does not take it (a `when`
    /// or `values` that does not list it, a payload that is not the declared format,
    /// no selected field present).
    pub fn translate(&self, payload: &[u8]) -> Option<Translated> {
        let value = match self.payload {
            PayloadFormat::Plain => {
                let text = std::str::from_utf8(payload).ok()?.trim();
                if !self.when.is_empty() && !self.when.iter().any(|when| when == text) {
                    return None;
                }
                if self.kind == InboundKind::Status {
                    let word = self.status_values.get(text).map_or(text, String::as_str);
                    return Some(self.output(word.as_bytes().to_vec()));
                }
                let value = match self.values.is_empty() {
                    true => plain_value(text),
                    false => self.values.get(text)?.clone(),
                };
                match &self.key {
                    Some(key) => keyed(key, value),
                    // A plain heartbeat without a key: a heartbeat with no fields.
                    None => Value::Object(Map::new()),
                }
            }
            PayloadFormat::Json => {
                let value: Value = serde_json::from_slice(payload).ok()?;
                if self.kind == InboundKind::Status {
                    return Some(self.output(self.status(value)));
                }
                self.pick(value)?
            }
        };
        Some(self.output(value.to_string().into_bytes()))
    }

    fn output(&self, payload: Vec<u8>) -> Translated {
        Translated {
            kind: self.kind,
            payload,
        }
    }

    /// A JSON status: a string (mapped through `status_values`) is a presence word,
    /// anything else goes as JSON (after `fields`/`key`, if any).
    fn status(&self, value: Value) -> Vec<u8> {
        let value = match (&self.key, self.fields.len()) {
            (None, 0) => value,
            // One field of a status is the device's word (Zigbee2MQTT's availability
            // `{"state": "online"}` with `fields = { state = "state" }`).
            (None, 1) => self
                .fields
                .values()
                .next()
                .and_then(|path| at_path(&value, path))
                .cloned()
                .unwrap_or(value),
            _ => self.pick(value.clone()).unwrap_or(value),
        };
        match value {
            Value::String(text) => self
                .status_values
                .get(&text)
                .cloned()
                .unwrap_or(text)
                .into_bytes(),
            other => other.to_string().into_bytes(),
        }
    }

    /// `fields` picked (or the value under `key`, mapped by `values`), or the whole
    /// value.
    fn pick(&self, value: Value) -> Option<Value> {
        if !self.fields.is_empty() {
            let mut out = Map::new();
            for (key, path) in &self.fields {
                if let Some(found) = at_path(&value, path) {
                    let mapped = self
                        .map
                        .get(key)
                        .and_then(|values| values.get(value_key(found).as_ref()));
                    out.insert(key.clone(), mapped.unwrap_or(found).clone());
                }
            }
            return (!out.is_empty()).then_some(Value::Object(out));
        }
        match &self.key {
            Some(key) if self.values.is_empty() => Some(keyed(key, value)),
            Some(key) => Some(keyed(
                key,
                self.values.get(value_key(&value).as_ref())?.clone(),
            )),
            None => Some(value),
        }
    }
}

fn keyed(key: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Value::Object(map)
}

impl CommandRule {
    /// Command `name` with `params` (a JSON object; the hub's own `id` key is left
    /// out) in the device's form. `var` gives the device's variables (`id`, `room`,
    /// `kind`, metadata); `{name}` is the command's name. The error says what is
    /// missing (a param the template uses, a variable the topic needs).
    pub fn render(
        &self,
        name: &str,
        params: &Value,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RenderedCommand, String> {
        let pattern = Pattern::parse(&self.topic)?;
        let topic = pattern.render(&|variable| match variable {
            "name" => Some(name.to_owned()),
            other => var(other),
        })?;
        let empty = Map::new();
        let params = params.as_object().unwrap_or(&empty);
        let lookup = |param: &str| -> Option<Value> {
            match params.get(param).filter(|_| param != "id") {
                Some(value) => Some(self.mapped(param, value)),
                None => var(param).map(Value::String),
            }
        };
        let (payload, json) = match &self.payload {
            None => {
                let object: Map<String, Value> = params
                    .iter()
                    .filter(|(key, _)| key.as_str() != "id")
                    .map(|(key, value)| (key.clone(), self.mapped(key, value)))
                    .collect();
                (Value::Object(object).to_string().into_bytes(), true)
            }
            Some(Value::String(template)) => (fill_text(template, &lookup)?.into_bytes(), false),
            Some(template) => (fill_json(template, &lookup)?.to_string().into_bytes(), true),
        };
        Ok(RenderedCommand {
            topic,
            payload,
            json,
        })
    }

    fn mapped(&self, param: &str, value: &Value) -> Value {
        self.map
            .get(param)
            .and_then(|values| values.get(value_key(value).as_ref()))
            .cloned()
            .unwrap_or_else(|| value.clone())
    }
}

/// The `{name}` placeholders of `text`, as (start, end, name) with `end` past the `}`.
fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|at| from + at) {
        match text[open..].find('}').map(|at| open + at) {
            Some(close) if super::is_var_name(&text[open + 1..close]) => {
                found.push((open, close + 1, &text[open + 1..close]));
                from = close + 1;
            }
            _ => from = open + 1,
        }
    }
    found
}

/// `template` with each `{param}` replaced by its value as text.
fn fill_text(template: &str, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut last = 0;
    for (start, end, name) in placeholders(template) {
        let value = lookup(name).ok_or_else(|| missing(name))?;
        out.push_str(&template[last..start]);
        out.push_str(&value_key(&value));
        last = end;
    }
    out.push_str(&template[last..]);
    Ok(out)
}

/// A JSON template filled: a string leaf that is exactly `"{param}"` becomes the typed
/// value, other strings get text substitution.
fn fill_json(template: &Value, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<Value, String> {
    Ok(match template {
        Value::String(text) => match placeholders(text).as_slice() {
            [(0, end, name)] if *end == text.len() => lookup(name).ok_or_else(|| missing(name))?,
            [] => template.clone(),
            _ => Value::String(fill_text(text, lookup)?),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| fill_json(item, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| Ok((key.clone(), fill_json(item, lookup)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn missing(name: &str) -> String {
    format!("params.{name}: missing (the layout's payload uses {{{name}}})")
}
