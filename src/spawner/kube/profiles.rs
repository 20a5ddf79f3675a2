//! KubeSpawner's `profile_list`: profiles, their options and choices (free-text choices
//! included), and how a user's options turn into the settings of one spawn
//! (`KubeConfig::effective`, KubeSpawner's `load_user_options`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::KubeConfig;

/// The select value that stands for the free-text choice in the options form.
pub const UNLISTED_VALUE: &str = "unlisted-choice";

/// The user option that carries an option's free-text value.
pub fn unlisted_key(option: &str) -> String {
    format!("{option}--unlisted-choice")
}

/// One entry of `profile_list`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    pub display_name: String,
    /// Default: derived from `display_name` (lowercase, runs of other characters as `-`).
    pub slug: Option<String>,
    pub description: Option<String>,
    pub default: bool,
    /// Keys of `[spawner.kubernetes]`; tables merge into the base value, others replace it.
    pub kubespawner_override: Map<String, Value>,
    /// Named options; the user option `<name>` picks one of `choices`.
    pub profile_options: BTreeMap<String, ProfileOption>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileOption {
    pub display_name: String,
    pub choices: BTreeMap<String, Choice>,
    /// A free-text choice ("Other..."), its value in the user option `<name>--unlisted-choice`.
    pub unlisted_choice: UnlistedChoice,
}

/// KubeSpawner's `unlisted_choice`: when enabled, the user may type a value instead of
/// picking a choice; `{value}` in the override's keys and strings is replaced by it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UnlistedChoice {
    pub enabled: bool,
    /// Label of the text field.
    pub display_name: String,
    /// Label of the choice in the list; default "Other...".
    pub display_name_in_choices: Option<String>,
    /// The value must match this at its start (Python's `re.match`).
    pub validation_regex: Option<String>,
    /// The form field's `title`: browsers show it when the value does not match.
    pub validation_message: Option<String>,
    pub kubespawner_override: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Choice {
    pub display_name: String,
    pub default: bool,
    pub kubespawner_override: Map<String, Value>,
}

impl Profile {
    pub fn slug(&self) -> String {
        match &self.slug {
            Some(s) => s.clone(),
            None => {
                let mut out = String::new();
                for c in self.display_name.to_lowercase().chars() {
                    if c.is_ascii_alphanumeric() {
                        out.push(c);
                    } else if !out.ends_with('-') {
                        out.push('-');
                    }
                }
                out.trim_matches('-').to_string()
            }
        }
    }
}

impl UnlistedChoice {
    /// The label of the free-text choice in the list.
    pub fn label_in_choices(&self) -> &str {
        self.display_name_in_choices
            .as_deref()
            .unwrap_or("Other...")
    }

    /// `validation_regex`, anchored at the start as Python's `re.match` does.
    fn regex(&self) -> Result<Option<regex::Regex>, String> {
        self.validation_regex
            .as_deref()
            .map(|r| {
                regex::Regex::new(&format!("^(?:{r})"))
                    .map_err(|e| format!("bad unlisted_choice.validation_regex {r:?}: {e}"))
            })
            .transpose()
    }
}

/// KubeSpawner's `recursive_format(v, value=...)`: `{value}` in every string and key is
/// replaced, `{{` and `}}` become single braces, other fields stay as they are.
fn format_value(ov: Map<String, Value>, value: &str) -> Map<String, Value> {
    fn text(s: &str, value: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            if let Some(r) = rest.strip_prefix("{{") {
                out.push('{');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("}}") {
                out.push('}');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("{value}") {
                out.push_str(value);
                rest = r;
            } else {
                out.push_str(&rest[..1]);
                rest = &rest[1..];
            }
        }
        out.push_str(rest);
        out
    }
    fn walk(v: Value, value: &str) -> Value {
        match v {
            Value::String(s) => Value::String(text(&s, value)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| walk(v, value)).collect()),
            Value::Object(o) => Value::Object(format_value(o, value)),
            other => other,
        }
    }
    ov.into_iter()
        .map(|(k, v)| (text(&k, value), walk(v, value)))
        .collect()
}

/// Applies an override table the way KubeSpawner's `_apply_overrides` does: a table merges
/// into a table (a `null` value removes the key), anything else replaces.
fn apply_override(base: &mut Map<String, Value>, ov: &Map<String, Value>) {
    fn merge(target: &mut Map<String, Value>, new: &Map<String, Value>) {
        for (k, v) in new {
            match v {
                Value::Object(o) => {
                    let slot = target
                        .entry(k.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    if let Value::Object(t) = slot {
                        merge(t, o);
                    }
                }
                Value::Null => {
                    target.remove(k);
                }
                _ => {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
    }
    for (k, v) in ov {
        match (base.get_mut(k), v) {
            (Some(Value::Object(t)), Value::Object(o)) => merge(t, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

impl KubeConfig {
    /// The settings for one spawn: the profile named by the user option `profile` (or the
    /// default profile) and its option choices applied over these settings
    /// (KubeSpawner's `load_user_options`).
    pub fn effective(&self, user_options: &Value) -> Result<KubeConfig, String> {
        self.apply_profile(user_options, true)
    }

    /// `effective`; `check` off skips the validation regexes (the load-time check applies
    /// every profile with a placeholder for free-text-only options).
    fn apply_profile(&self, user_options: &Value, check: bool) -> Result<KubeConfig, String> {
        if self.profile_list.is_empty() {
            return Ok(self.clone());
        }
        let wanted = user_options
            .get("profile")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let profile = match wanted {
            Some(slug) => self
                .profile_list
                .iter()
                .find(|p| p.slug() == slug)
                .ok_or_else(|| {
                    let all: Vec<String> = self.profile_list.iter().map(Profile::slug).collect();
                    format!(
                        "No such profile: {slug}. Options include: {}",
                        all.join(", ")
                    )
                })?,
            None => self
                .profile_list
                .iter()
                .find(|p| p.default)
                .unwrap_or(&self.profile_list[0]),
        };
        let mut overrides = vec![profile.kubespawner_override.clone()];
        for (name, option) in &profile.profile_options {
            let typed = user_options
                .get(unlisted_key(name))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty());
            if let Some(value) = typed {
                let u = &option.unlisted_choice;
                if !u.enabled {
                    return Err(format!(
                        "Received unlisted_choice for {name} without being enabled."
                    ));
                }
                if check && !u.regex()?.is_none_or(|r| r.is_match(value)) {
                    return Err(format!(
                        "Received unlisted_choice for {name} that failed validation regex."
                    ));
                }
                overrides.push(format_value(u.kubespawner_override.clone(), value));
                continue;
            }
            let choice = match user_options.get(name).and_then(Value::as_str) {
                Some(c) => option.choices.get(c).ok_or_else(|| {
                    format!(
                        "Invalid choice {c:?} for option {name:?} of profile {:?}",
                        profile.slug()
                    )
                })?,
                None => option
                    .choices
                    .values()
                    .find(|c| c.default)
                    .or_else(|| option.choices.values().next())
                    .ok_or_else(|| format!("Unable to determine a default choice for {name}."))?,
            };
            overrides.push(choice.kubespawner_override.clone());
        }
        let mut base = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => return Err("cannot serialize the spawner settings".into()),
        };
        base.insert("profile_list".into(), Value::Array(Vec::new()));
        for ov in overrides {
            if ov.contains_key("profile_list") {
                return Err("a profile cannot override profile_list".into());
            }
            apply_override(&mut base, &ov);
        }
        serde_json::from_value(Value::Object(base)).map_err(|e| format!("bad override: {e}"))
    }

    /// The load-time check: validation regexes compile, and every profile applies with its
    /// default choices (an option with only a free-text choice, with a placeholder value).
    pub(super) fn check_profiles(&self) -> Result<(), String> {
        for p in &self.profile_list {
            let slug = p.slug();
            let mut opts = Map::new();
            opts.insert("profile".into(), Value::String(slug.clone()));
            for (name, o) in &p.profile_options {
                o.unlisted_choice
                    .regex()
                    .map_err(|e| format!("spawner.kubernetes.profile_list[{slug}]: {e}"))?;
                if o.choices.is_empty() && o.unlisted_choice.enabled {
                    opts.insert(unlisted_key(name), Value::String("value".into()));
                }
            }
            self.apply_profile(&Value::Object(opts), false)
                .map_err(|e| format!("spawner.kubernetes.profile_list[{slug}]: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "profiles_tests.rs"]
mod tests;
