//! JSON patch (RFC 6902): `add`, `remove`, `replace`, `move`, `copy`, `test`.
//!
//! A failing operation rejects the whole patch with 422, as kube-apiserver
//! does (a failing `test` is how clients build compare-and-swap patches).

use serde_json::Value;

use crate::error::ApiError;

fn fail(msg: impl Into<String>) -> ApiError {
    ApiError::new(422, "Invalid", msg)
}

/// RFC 6901 pointer → unescaped tokens.
fn tokens(path: &str) -> Result<Vec<String>, ApiError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| fail(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent_mut<'a>(
    doc: &'a mut Value,
    toks: &[String],
    path: &str,
) -> Result<&'a mut Value, ApiError> {
    let mut cur = doc;
    for t in &toks[..toks.len() - 1] {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| fail(format!("doc is missing path: {path:?}")))?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    let toks = tokens(path)?;
    let Some(last) = toks.last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, &toks, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>().map_err(|_| fail("invalid index"))?
            };
            if i > a.len() {
                return Err(fail(format!(
                    "add operation does not apply: index out of bounds at {path:?}"
                )));
            }
            a.insert(i, value);
        }
        _ => {
            return Err(fail(format!(
                "add operation does not apply: doc is missing path: {path:?}"
            )))
        }
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let toks = tokens(path)?;
    let last = toks
        .last()
        .ok_or_else(|| fail("cannot remove the whole document"))?;
    let missing = || {
        fail(format!(
            "remove operation does not apply: doc is missing path: {path:?}"
        ))
    };
    match parent_mut(doc, &toks, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i = last.parse::<usize>().map_err(|_| missing())?;
            (i < a.len()).then(|| a.remove(i)).ok_or_else(missing)
        }
        _ => Err(missing()),
    }
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, ApiError> {
    let toks = tokens(path)?;
    let mut cur = doc;
    for t in &toks {
        cur = match cur {
            Value::Object(m) => m.get(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| fail(format!("doc is missing path: {path:?}")))?;
    }
    Ok(cur)
}

/// Applies an RFC 6902 patch document.
pub fn apply(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array"))?;
    let mut doc = target.clone();
    for op in ops {
        let field = |k: &str| {
            op.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| fail(format!("missing {k:?} in {op}")))
        };
        let path = field("path")?;
        match field("op")? {
            "add" => add(
                &mut doc,
                path,
                op.get("value").cloned().unwrap_or(Value::Null),
            )?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path).map_err(|_| {
                    fail(format!(
                        "replace operation does not apply: doc is missing key: {path}"
                    ))
                })?;
                add(
                    &mut doc,
                    path,
                    op.get("value").cloned().unwrap_or(Value::Null),
                )?;
            }
            "move" => {
                let v = remove(&mut doc, field("from")?)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let v = get(&doc, field("from")?)?.clone();
                add(&mut doc, path, v)?;
            }
            "test" => {
                let want = op.get("value").unwrap_or(&Value::Null);
                if get(&doc, path)? != want {
                    return Err(fail(format!("testing value {path} failed: test failed")));
                }
            }
            other => return Err(fail(format!("unexpected kind of operation: {other:?}"))),
        }
    }
    Ok(doc)
}
