//! The four PATCH content types.
//!
//! Limits (documented, not silently different): strategic merge knows the
//! merge keys of the core fields a spawner touches (see [`strategic`]) and
//! ignores `$retainKeys`/`$setElementOrder`; server-side apply is modelled as
//! "create if absent, else strategic-merge the applied configuration"; there
//! are no managed fields, so apply never reports field-manager conflicts.

mod json_patch;
mod merge;
mod strategic;

use serde_json::Value;

use crate::error::ApiError;

/// A PATCH body type, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// Parses a `Content-Type` header value (parameters ignored).
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Parses a patch body: JSON for all types; YAML is also accepted for apply.
pub fn parse_body(ty: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(e) if ty == PatchType::Apply => {
            let text =
                std::str::from_utf8(body).map_err(|_| ApiError::bad_request(e.to_string()))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        }
        Err(e) => Err(ApiError::bad_request(format!("error decoding patch: {e}"))),
    }
}

/// Applies `patch` of type `ty` to `target`. Apply patches use the
/// strategic-merge path (see the module docs).
pub fn apply(target: &Value, patch: &Value, ty: PatchType) -> Result<Value, ApiError> {
    match ty {
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            Ok(merge::merge(target, patch))
        }
        PatchType::Json => json_patch::apply(target, patch),
        PatchType::Strategic | PatchType::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            strategic::merge(target, patch)
        }
    }
}
