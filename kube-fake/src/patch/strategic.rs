//! Strategic merge patch for the core fields a spawner touches.
//!
//! Like a merge patch, except that lists with a known merge key merge item
//! by item, `finalizers` merges as a set, and the `$patch: replace|delete`
//! and `$deleteFromPrimitiveList/<field>` directives work. The merge key is
//! chosen by field name (the real server reads it from Go struct tags);
//! lists not in [`merge_key`] are replaced, which is also what the server
//! does for fields like `args`, `command` and `tolerations`.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The `patchMergeKey` of a list field, by field name.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "containerStatuses"
        | "initContainerStatuses"
        | "ephemeralContainerStatuses"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => "containerPort",
        "ports" => "port",
        _ => return None,
    })
}

/// Lists of scalars with `patchStrategy: merge` (set union).
fn is_primitive_merge(field: &str) -> bool {
    field == "finalizers"
}

fn directive(v: &Value) -> Option<&str> {
    v.get("$patch").and_then(Value::as_str)
}

fn without_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch to an object.
pub fn merge(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    Ok(merge_map(target, patch)?.unwrap_or(Value::Object(Map::new())))
}

/// `Ok(None)` means the patch deleted this map (`$patch: delete`).
fn merge_map(target: &Value, patch: &Value) -> Result<Option<Value>, ApiError> {
    let Value::Object(p) = patch else {
        return Ok(Some(patch.clone()));
    };
    match directive(patch) {
        Some("replace") => return Ok(Some(without_directives(patch))),
        Some("delete") => return Ok(None),
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type: {other:?}"
            )))
        }
    }
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    let mut deletions = Vec::new();
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            deletions.push((field.to_string(), v.as_array().cloned().unwrap_or_default()));
            continue;
        }
        if k.starts_with('$') {
            // $patch handled above; $setElementOrder and $retainKeys are not modelled.
            continue;
        }
        match v {
            Value::Null => {
                out.remove(k);
            }
            Value::Object(_) => match merge_map(out.get(k).unwrap_or(&Value::Null), v)? {
                Some(m) => {
                    out.insert(k.clone(), m);
                }
                None => {
                    out.remove(k);
                }
            },
            Value::Array(items) => {
                let old = out
                    .get(k)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let merged = merge_list(k, &old, items)?;
                out.insert(k.clone(), Value::Array(merged));
            }
            scalar => {
                out.insert(k.clone(), scalar.clone());
            }
        }
    }
    for (field, remove) in deletions {
        if let Some(list) = out.get_mut(&field).and_then(Value::as_array_mut) {
            list.retain(|x| !remove.contains(x));
        }
    }
    Ok(Some(Value::Object(out)))
}

fn merge_list(field: &str, old: &[Value], patch: &[Value]) -> Result<Vec<Value>, ApiError> {
    if is_primitive_merge(field) {
        let mut out = old.to_vec();
        for x in patch {
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
        return Ok(out);
    }
    let Some(key) = merge_key(field, patch) else {
        return Ok(patch.to_vec());
    };
    if !patch.iter().all(Value::is_object) {
        return Ok(patch.to_vec());
    }
    if patch.iter().any(|i| directive(i) == Some("replace")) {
        return Ok(patch
            .iter()
            .filter(|i| directive(i).is_none())
            .cloned()
            .collect());
    }
    let mut out = old.to_vec();
    for item in patch {
        let id = item.get(key).ok_or_else(|| {
            ApiError::new(
                422,
                "Invalid",
                format!("map: {item} does not contain declared merge key: {key}"),
            )
        })?;
        let pos = out.iter().position(|o| o.get(key) == Some(id));
        match (directive(item), pos) {
            (Some("delete"), Some(i)) => {
                out.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => {
                if let Some(m) = merge_map(&out[i], item)? {
                    out[i] = m;
                }
            }
            (_, None) => out.push(without_directives(item)),
        }
    }
    Ok(out)
}
