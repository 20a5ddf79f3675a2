//! Errors, rendered the way kube-apiserver renders them: a `Status` object
//! whose `reason`, `code` and `details` match `k8s.io/apimachinery/pkg/api/errors`.
//!
//! The exact shape matters because clients branch on it: kube's
//! `Error::Api(status)` exposes `status.reason`/`status.code`, and a spawner
//! decides "409 AlreadyExists → stop the old pod, retry" or "403 quota →
//! report" from those fields alone.

use serde_json::{json, Map, Value};

use crate::resource::ApiResource;

/// One failing field of a 422 `Invalid` answer (`field.Error` in Go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `metadata.name`.
    pub field: String,
    /// What is wrong with it.
    pub kind: FieldErrorKind,
    /// The offending value, quoted into the message for `Invalid`.
    pub value: String,
    /// Human explanation appended to the message.
    pub detail: String,
}

/// The subset of `field.ErrorType` the fake produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `FieldValueInvalid`.
    Invalid,
    /// `FieldValueRequired`.
    Required,
    /// `FieldValueForbidden`.
    Forbidden,
}

impl FieldError {
    /// An `Invalid value` error.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Invalid,
            value: value.into(),
            detail: detail.into(),
        }
    }

    /// A `Required value` error.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Required,
            value: String::new(),
            detail: detail.into(),
        }
    }

    /// A `Forbidden` error.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Forbidden,
            value: String::new(),
            detail: detail.into(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
        }
    }

    /// The message without the field prefix, as Go's `ErrorBody()`.
    fn body(&self) -> String {
        let head = match self.kind {
            FieldErrorKind::Invalid => format!("Invalid value: {:?}", self.value),
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
        };
        if self.detail.is_empty() {
            head
        } else {
            format!("{head}: {}", self.detail)
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// An API error answer: HTTP code plus the `Status` body fields.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code, repeated in `Status.code`.
    pub code: u16,
    /// `Status.reason` (`NotFound`, `AlreadyExists`, `Conflict`, ...).
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details`, when the reason carries any.
    pub details: Option<Box<Value>>,
    /// Seconds for the `Retry-After` header (429 and some 5xx).
    pub retry_after: Option<u64>,
    /// `Status.metadata` (an expired list carries a fresh `continue` token there).
    pub metadata: Option<Box<Value>>,
}

fn details(res: &ApiResource, name: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !res.group.is_empty() {
        d.insert("group".into(), json!(res.group));
    }
    d.insert("kind".into(), json!(res.plural));
    Value::Object(d)
}

fn qualified(res: &ApiResource) -> String {
    if res.group.is_empty() {
        res.plural.to_string()
    } else {
        format!("{}.{}", res.plural, res.group)
    }
}

impl ApiError {
    /// A bare error with no details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
            metadata: None,
        }
    }

    /// 404 `pods "x" not found`.
    pub fn not_found(res: &ApiResource, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", qualified(res)),
        );
        e.details = Some(Box::new(details(res, name)));
        e
    }

    /// 409 `pods "x" already exists`.
    pub fn already_exists(res: &ApiResource, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", qualified(res)),
        );
        e.details = Some(Box::new(details(res, name)));
        e
    }

    /// 409 optimistic-concurrency conflict (stale `resourceVersion`).
    pub fn conflict(res: &ApiResource, name: &str) -> Self {
        Self::conflict_because(
            res,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 conflict with a specific cause (e.g. a failed delete precondition).
    pub fn conflict_because(res: &ApiResource, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                qualified(res)
            ),
        );
        e.details = Some(Box::new(details(res, name)));
        e
    }

    /// 422 `Pod "x" is invalid: ...` with one cause per field error.
    pub fn invalid(res: &ApiResource, name: &str, errors: &[FieldError]) -> Self {
        let list = if errors.len() == 1 {
            errors[0].to_string()
        } else {
            format!(
                "[{}]",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|f| json!({"reason": f.reason(), "message": f.body(), "field": f.field}))
            .collect();
        let mut d = Map::new();
        d.insert("name".into(), json!(name));
        if !res.group.is_empty() {
            d.insert("group".into(), json!(res.group));
        }
        d.insert("kind".into(), json!(res.kind));
        d.insert("causes".into(), Value::Array(causes));
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} {name:?} is invalid: {list}", res.kind),
        );
        e.details = Some(Box::new(Value::Object(d)));
        e
    }

    /// 403 `pods "x" is forbidden: <why>` (RBAC denial or quota).
    pub fn forbidden(res: &ApiResource, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            403,
            "Forbidden",
            format!("{} {name:?} is forbidden: {why}", qualified(res)),
        );
        e.details = Some(Box::new(details(res, name)));
        e
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 410 `Expired`: an old `resourceVersion` or `continue` token.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 429 with `Retry-After`, as API Priority and Fairness answers.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        e.details = Some(Box::new(json!({"retryAfterSeconds": retry_after})));
        e.retry_after = Some(retry_after);
        e
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        );
        e.details = Some(Box::new(json!({"causes": [{"message": message}]})));
        e
    }

    /// 503 `ServiceUnavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// 504 `Timeout`, e.g. a `resourceVersion` from the future.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 `UnsupportedMediaType` for an unknown patch content type.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {content_type:?}"))
    }

    /// A generic error for an arbitrary HTTP code (fault injection).
    pub fn from_code(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Expired",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "",
        };
        Self::new(code, reason, message)
    }

    /// The `Status` object sent as the response body (or inside a watch ERROR event).
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.metadata.as_deref().cloned().unwrap_or_else(|| json!({})),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = (**d).clone();
        }
        s
    }
}

/// Errors of the test-side API ([`crate::FakeKube`] helpers and the kubelet).
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// The API server itself refused the operation.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The resource plural is not one the fake serves.
    #[error("unknown resource {0:?}")]
    UnknownResource(String),
    /// Writing a kubeconfig failed.
    #[error("writing kubeconfig: {0}")]
    Io(#[from] std::io::Error),
}
