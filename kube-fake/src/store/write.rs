//! Create, update (main resource and `/status`) and patch.
//!
//! All three end in [`Store::finish_update`]/[`Store::create`], so the rules
//! hold whichever verb a client uses: `.status` is ignored on the main
//! resource and is the only thing `/status` changes; system metadata cannot
//! be overwritten; `generation` moves only when `spec` does; a no-op write
//! commits nothing (no new resourceVersion, no watch event).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Key, Store};
use crate::convert::{from_view, to_view};
use crate::error::{ApiError, FieldError};
use crate::kinds;
use crate::meta::{self, check_labels_and_annotations, check_name};
use crate::patch::{self, PatchType};
use crate::resource::ApiResource;

/// Metadata the server owns; copied from the stored object on every update.
const SYSTEM_META: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "namespace",
    "name",
];

/// Checks `apiVersion`/`kind` of a request body and converts it to storage shape.
fn check_body(res: &ApiResource, body: Value) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    if let Some(av) = body.get("apiVersion").and_then(Value::as_str) {
        if av != res.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                res.api_version()
            )));
        }
    }
    if let Some(kind) = body.get("kind").and_then(Value::as_str) {
        if kind != res.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match {}",
                res.kind
            )));
        }
    }
    let mut obj = from_view(res, body);
    let native = crate::resource::native(res.storage);
    obj["apiVersion"] = json!(native.api_version());
    obj["kind"] = json!(native.kind);
    Ok(obj)
}

fn check_namespace(obj: &Value, ns: &str) -> Result<(), ApiError> {
    match meta::str_at(obj, &["metadata", "namespace"]) {
        Some(x) if !x.is_empty() && x != ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// `Precondition failed` conflict when a body names a different uid.
fn check_uid(res: &ApiResource, name: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    let want = meta::uid(new);
    if !want.is_empty() && want != meta::uid(old) {
        let why = format!(
            "Precondition failed: UID in precondition: {want}, UID in object meta: {}",
            meta::uid(old)
        );
        return Err(ApiError::conflict_because(res, name, &why));
    }
    Ok(())
}

impl Store {
    /// POST: creates an object in `ns` from a client body (in `res`'s view).
    pub fn create(
        &mut self,
        res: &ApiResource,
        ns: &str,
        body: Value,
    ) -> Result<Arc<Value>, ApiError> {
        let mut obj = check_body(res, body)?;
        check_namespace(&obj, ns)?;
        if !meta::resource_version(&obj).is_empty() {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let kind = res.storage;
        let mut name = meta::name(&obj).to_string();
        if name.is_empty() {
            let prefix = meta::str_at(&obj, &["metadata", "generateName"])
                .unwrap_or("")
                .to_string();
            if prefix.is_empty() {
                let e = FieldError::required("metadata.name", "name or generateName is required");
                return Err(ApiError::invalid(res, "", &[e]));
            }
            loop {
                let seq = self.next_seq();
                name = meta::generate_name(&prefix, seq ^ (u64::from(self.instance) << 32));
                if self.get(kind, ns, &name).is_none() {
                    break;
                }
            }
        }
        let mut errs: Vec<FieldError> = check_name(kinds::name_rule(kind), &name)
            .into_iter()
            .map(|msg| FieldError::invalid("metadata.name", &name, msg))
            .collect();
        errs.extend(check_labels_and_annotations(&obj));
        let seq = self.next_seq();
        kinds::apply_defaults(kind, &mut obj, seq);
        errs.extend(kinds::validate_create(kind, &obj));
        if !errs.is_empty() {
            return Err(ApiError::invalid(res, &name, &errs));
        }
        if self.get(kind, ns, &name).is_some() {
            return Err(ApiError::already_exists(res, &name));
        }
        let uid = self.new_uid();
        let created = self.clock.timestamp(0);
        let m = meta::meta_mut(&mut obj);
        m.insert("name".into(), json!(name));
        m.insert("namespace".into(), json!(ns));
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), json!(created));
        for f in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "managedFields",
            "generation",
        ] {
            m.remove(f);
        }
        if res.tracks_generation {
            m.insert("generation".into(), json!(1));
        }
        if res.has_status {
            match kinds::initial_status(kind, &obj) {
                Some(s) => obj["status"] = s,
                None => {
                    obj.as_object_mut().map(|o| o.remove("status"));
                }
            }
        }
        Ok(self.put((kind, ns.to_string(), name), obj))
    }

    /// PUT on the main resource (`status_only == false`) or on `/status`.
    pub fn update(
        &mut self,
        res: &ApiResource,
        ns: &str,
        name: &str,
        body: Value,
        status_only: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let mut new = check_body(res, body)?;
        check_namespace(&new, ns)?;
        let old = self
            .get(res.storage, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))?;
        match meta::name(&new) {
            "" => {
                meta::meta_mut(&mut new).insert("name".into(), json!(name));
            }
            n if n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )))
            }
            _ => {}
        }
        let rv = meta::resource_version(&new);
        if !rv.is_empty() && rv != meta::resource_version(&old) {
            return Err(ApiError::conflict(res, name));
        }
        check_uid(res, name, &old, &new)?;
        self.finish_update(res, old, new, status_only)
    }

    /// PATCH (any type). Returns the object and whether it was created
    /// (server-side apply of an absent object).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        res: &ApiResource,
        ns: &str,
        name: &str,
        ty: PatchType,
        patch_body: &Value,
        status_only: bool,
        field_manager: Option<&str>,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        if ty == PatchType::Apply && field_manager.is_none_or(str::is_empty) {
            let e = FieldError::required("fieldManager", "is required for apply patch");
            let mut err = ApiError::invalid(res, "", &[e]);
            err.message = "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into();
            return Err(err);
        }
        let Some(old) = self.get(res.storage, ns, name).cloned() else {
            if ty == PatchType::Apply && !status_only {
                let mut body = patch_body.clone();
                if !body.is_object() {
                    return Err(ApiError::bad_request("apply patch must be an object"));
                }
                meta::meta_mut(&mut body).insert("name".into(), json!(name));
                return Ok((self.create(res, ns, body)?, true));
            }
            return Err(ApiError::not_found(res, name));
        };
        let patched = patch::apply(&to_view(res, &old), patch_body, ty)?;
        let patched = check_body(res, patched)?;
        if meta::name(&patched) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(&patched)
            )));
        }
        let rv = meta::resource_version(&patched);
        if !rv.is_empty() && rv != meta::resource_version(&old) {
            return Err(ApiError::conflict(res, name));
        }
        check_uid(res, name, &old, &patched)?;
        Ok((self.finish_update(res, old, patched, status_only)?, false))
    }

    /// The common tail of every update: merge with the stored object, validate, commit.
    pub(super) fn finish_update(
        &mut self,
        res: &ApiResource,
        old: Arc<Value>,
        mut new: Value,
        status_only: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let kind = res.storage;
        let name = meta::name(&old).to_string();
        let ns = meta::namespace(&old).to_string();
        let new = if status_only {
            let mut n = (*old).clone();
            match new.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    n.as_object_mut().map(|o| o.remove("status"));
                }
            }
            n
        } else {
            let seq = self.next_seq();
            kinds::apply_defaults(kind, &mut new, seq);
            let old_meta = old
                .get("metadata")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let m = meta::meta_mut(&mut new);
            for f in SYSTEM_META {
                match old_meta.get(*f) {
                    Some(v) => m.insert((*f).to_string(), v.clone()),
                    None => m.remove(*f),
                };
            }
            m.remove("managedFields");
            if res.has_status {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        new.as_object_mut().map(|o| o.remove("status"));
                    }
                }
            }
            let mut errs = check_labels_and_annotations(&new);
            errs.extend(kinds::validate_update(kind, &old, &mut new));
            if meta::is_terminating(&old) {
                let before = meta::finalizers(&old);
                let added: Vec<String> = meta::finalizers(&new)
                    .into_iter()
                    .filter(|f| !before.contains(f))
                    .collect();
                if !added.is_empty() {
                    errs.push(FieldError::forbidden(
                        "metadata.finalizers",
                        format!("no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"),
                    ));
                }
            }
            if !errs.is_empty() {
                return Err(ApiError::invalid(res, &name, &errs));
            }
            if res.tracks_generation && old.get("spec") != new.get("spec") {
                let g = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta::meta_mut(&mut new).insert("generation".into(), json!(g + 1));
            }
            new
        };
        let mut probe = new.clone();
        meta::meta_mut(&mut probe).insert(
            "resourceVersion".into(),
            json!(meta::resource_version(&old)),
        );
        if probe == *old {
            return Ok(old);
        }
        let key: Key = (kind, ns, name);
        let grace_done = old
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            == Some(0);
        if meta::is_terminating(&new) && meta::finalizers(&new).is_empty() && grace_done {
            // The last finalizer is gone: the update completes the deletion.
            let last = self.remove(&key, new);
            self.collect_garbage(&last);
            return Ok(last);
        }
        Ok(self.put(key, new))
    }
}
