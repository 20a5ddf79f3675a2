//! Deletion: graceful pod termination, finalizers, preconditions and a
//! simple ownerReference garbage collector.
//!
//! Pod grace follows the pod registry strategy: the requested
//! `gracePeriodSeconds`, else `spec.terminationGracePeriodSeconds`; 0 if the
//! pod was never scheduled or already finished; negative becomes 1. A
//! graceful delete only sets `deletionTimestamp` (MODIFIED); the final
//! removal (DELETED) happens when the grace timer fires on the tokio clock,
//! standing in for the kubelet's confirming delete. Other kinds have no
//! graceful deletion.
//!
//! Garbage collection is synchronous (kube-controller-manager is async):
//! `Foreground` deletes dependents before the owner, `Orphan` strips the
//! owner's references from dependents, `Background` deletes dependents right
//! after the owner is removed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{GraceTimer, Key, Store};
use crate::error::ApiError;
use crate::meta;
use crate::resource::{native, ApiResource, StorageKind};

/// `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Leave dependents, removing their owner reference.
    Orphan,
    /// Delete the owner, then its dependents (the default).
    #[default]
    Background,
    /// Delete dependents first.
    Foreground,
}

/// The parts of `DeleteOptions` the fake honours.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy` (or the legacy `orphanDependents`).
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

/// What a DELETE did.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// The object still exists (grace period or finalizers); here it is.
    Pending(Arc<Value>),
    /// The object is gone; this is its final state.
    Gone(Arc<Value>),
}

fn pod_grace(pod: &Value, requested: Option<i64>) -> i64 {
    let default = pod
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    let mut g = requested.unwrap_or(default);
    if meta::str_at(pod, &["spec", "nodeName"])
        .unwrap_or("")
        .is_empty()
    {
        g = 0;
    }
    if matches!(
        meta::str_at(pod, &["status", "phase"]),
        Some("Succeeded" | "Failed")
    ) {
        g = 0;
    }
    if g < 0 {
        g = 1;
    }
    g
}

fn owned_by(obj: &Value, owner_uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
        })
}

impl Store {
    /// DELETE of one object.
    pub fn delete(
        &mut self,
        res: &ApiResource,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, ApiError> {
        let kind = res.storage;
        let old = self
            .get(kind, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))?;
        if let Some(uid) = opts.uid.as_deref().filter(|u| *u != meta::uid(&old)) {
            let why = format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(&old)
            );
            return Err(ApiError::conflict_because(res, name, &why));
        }
        if let Some(rv) = opts
            .resource_version
            .as_deref()
            .filter(|r| *r != meta::resource_version(&old))
        {
            let why = format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in meta: {}",
                meta::resource_version(&old)
            );
            return Err(ApiError::conflict_because(res, name, &why));
        }
        let owner_uid = meta::uid(&old).to_string();
        match opts.propagation.unwrap_or_default() {
            Propagation::Foreground => self.delete_dependents(ns, &owner_uid),
            Propagation::Orphan => self.orphan_dependents(ns, &owner_uid),
            Propagation::Background => {}
        }
        let key: Key = (kind, ns.to_string(), name.to_string());
        let grace = if kind == StorageKind::Pod {
            pod_grace(&old, opts.grace_period_seconds)
        } else {
            0
        };
        let current_grace = old
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64);
        if grace > 0 {
            if meta::is_terminating(&old) && current_grace.is_some_and(|g| g <= grace) {
                // A second delete may only shorten the grace period.
                return Ok(DeleteOutcome::Pending(old));
            }
            let mut obj = (*old).clone();
            let ts = self.clock.timestamp(grace);
            let m = meta::meta_mut(&mut obj);
            m.insert("deletionTimestamp".into(), json!(ts));
            m.insert("deletionGracePeriodSeconds".into(), json!(grace));
            if res.tracks_generation {
                let g = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
                m.insert("generation".into(), json!(g + 1));
            }
            let first = !meta::is_terminating(&old);
            let stored = self.put(key.clone(), obj);
            if first {
                self.record_killing(&stored);
            }
            let after = Duration::from_secs(grace.unsigned_abs());
            self.timers.push(GraceTimer {
                key,
                uid: owner_uid,
                deletion_timestamp: ts,
                after,
            });
            return Ok(DeleteOutcome::Pending(stored));
        }
        if !meta::finalizers(&old).is_empty() {
            if current_grace == Some(0) {
                return Ok(DeleteOutcome::Pending(old));
            }
            let mut obj = (*old).clone();
            let ts = self.clock.timestamp(0);
            let m = meta::meta_mut(&mut obj);
            m.insert("deletionTimestamp".into(), json!(ts));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            return Ok(DeleteOutcome::Pending(self.put(key, obj)));
        }
        let last = self.remove(&key, (*old).clone());
        self.collect_garbage(&last);
        Ok(DeleteOutcome::Gone(last))
    }

    /// The grace timer of a pod fired: confirm the deletion, as the kubelet does
    /// with a grace-0 delete once the containers stopped.
    pub fn grace_expired(&mut self, timer: &GraceTimer) {
        let Some(obj) = self.objects.get(&timer.key).cloned() else {
            return;
        };
        let ts = meta::str_at(&obj, &["metadata", "deletionTimestamp"]).unwrap_or("");
        if meta::uid(&obj) != timer.uid || ts != timer.deletion_timestamp {
            return;
        }
        if meta::finalizers(&obj).is_empty() {
            let last = self.remove(&timer.key, (*obj).clone());
            self.collect_garbage(&last);
        } else {
            let mut obj = (*obj).clone();
            meta::meta_mut(&mut obj).insert("deletionGracePeriodSeconds".into(), json!(0));
            self.put(timer.key.clone(), obj);
        }
    }

    fn dependents(&self, ns: &str, owner_uid: &str) -> Vec<Key> {
        self.objects
            .iter()
            .filter(|(k, v)| k.1 == ns && owned_by(v, owner_uid))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn delete_dependents(&mut self, ns: &str, owner_uid: &str) {
        for (kind, ns, name) in self.dependents(ns, owner_uid) {
            // A dependent that is already gone or blocked is not the owner's problem.
            let _ = self.delete(native(kind), &ns, &name, &DeleteOptions::default());
        }
    }

    fn orphan_dependents(&mut self, ns: &str, owner_uid: &str) {
        for key in self.dependents(ns, owner_uid) {
            let Some(obj) = self.objects.get(&key) else {
                continue;
            };
            let mut obj = (**obj).clone();
            if let Some(refs) = obj
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
            }
            self.put(key, obj);
        }
    }

    /// Background cascade after an owner is removed.
    pub(super) fn collect_garbage(&mut self, removed: &Value) {
        let uid = meta::uid(removed).to_string();
        let ns = meta::namespace(removed).to_string();
        self.delete_dependents(&ns, &uid);
    }
}
