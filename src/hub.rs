//! The state every HTTP handler shares.

use std::collections::HashMap;

use axum::http::HeaderValue;
use std::sync::Arc;

use parking_lot::Mutex;
use rafthub_raft::state::model::{Token, TokenHash};
use std::time::Duration;

use rafthub_raft::node::Node;
use rafthub_rbac::{CustomScope, ScopeRegistry};
use tokio::sync::watch;

use crate::activity::ActivityBuffer;
use crate::authz::Authz;
use crate::hub_config::HubConfig;

/// Shared by all handlers of one replica; cheap to clone (one reference count: axum clones
/// the state for every request, and a dozen `Arc`s cost ~2 % of the leader's CPU under load).
#[derive(Clone)]
pub struct Hub(Arc<HubParts>);

impl std::ops::Deref for Hub {
    type Target = HubParts;
    fn deref(&self) -> &HubParts {
        &self.0
    }
}

/// What a [`Hub`] holds.
#[derive(Clone)]
pub struct HubParts {
    pub node: Arc<Node>,
    pub cfg: Arc<HubConfig>,
    pub authz: Arc<Authz>,
    pub activity: Arc<ActivityBuffer>,
    /// Set by `POST /hub/api/shutdown`; the server stops this replica when it flips.
    pub shutdown: Arc<watch::Sender<bool>>,
    /// This replica's proxy route table (a projection of the replicated routes).
    pub routes: rafthub_proxy::RouteTable,
    /// Slow-hashed (operator) tokens this replica has verified: SHA-256 of the secret → token
    /// id. Memory only, so the slow hash is paid once per replica, not once per request.
    slow_verified: Arc<Mutex<HashMap<String, u64>>>,
    /// Who may log in through the pages.
    pub auth: Arc<dyn crate::web::authenticator::Authenticator>,
    pub auth_cfg: Arc<crate::web::authenticator::AuthConfig>,
    /// Spawn timeouts (`slow_spawn_timeout`, ...) the API handlers wait with.
    pub spawner_cfg: Arc<crate::spawner::SpawnerConfig>,
    /// This replica's proxy, for its metrics.
    pub proxy: Option<rafthub_proxy::Proxy>,
    /// `Content-Security-Policy` of pages and of API responses, as upstream's handlers set
    /// them (no framing, violations reported to `{hub}security/csp-report`); built once.
    pub csp: Arc<Csp>,
    /// The page templates: built-in, plus `[hub] template_paths`.
    pub templates: Arc<crate::web::templates::Templates>,
}

/// The two `Content-Security-Policy` values the hub answers with.
pub struct Csp {
    pub page: HeaderValue,
    pub api: HeaderValue,
}

impl Csp {
    /// Sets the policy that fits the response (pages: HTML or no body type; API: the rest)
    /// unless a handler chose one.
    pub fn apply(&self, res: &mut axum::response::Response) {
        use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
        if res.headers().contains_key(CONTENT_SECURITY_POLICY) {
            return;
        }
        let page = res
            .headers()
            .get(CONTENT_TYPE)
            .is_none_or(|v| v.as_bytes().starts_with(b"text/html"));
        let v = if page { &self.page } else { &self.api };
        res.headers_mut().insert(CONTENT_SECURITY_POLICY, v.clone());
    }

    fn new(hub_prefix: &str) -> Csp {
        let page = format!("frame-ancestors 'none'; report-uri {hub_prefix}security/csp-report");
        let api = format!("{page}; default-src 'none'");
        let value = |s: String| {
            HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("frame-ancestors 'none'"))
        };
        Csp {
            page: value(page),
            api: value(api),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HubError(String);

/// The scope registry: built-in scopes plus the configured `custom:` ones.
pub fn registry(cfg: &HubConfig) -> Result<ScopeRegistry, HubError> {
    let custom = cfg
        .custom_scopes
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                CustomScope {
                    description: v.description.clone(),
                    subscopes: v.subscopes.clone(),
                },
            )
        })
        .collect();
    ScopeRegistry::with_custom(custom).map_err(|e| HubError(format!("invalid custom scopes: {e}")))
}

impl Hub {
    pub fn new(node: Arc<Node>, mut cfg: HubConfig) -> Result<Hub, HubError> {
        // Upstream normalizes configured user names as its authenticator does (lower case),
        // so `Alice` in the config is the `alice` who logs in.
        normalize_names(&mut cfg.admin_users);
        for r in &mut cfg.roles {
            normalize_names(&mut r.users);
        }
        let reg = registry(&cfg)?;
        let csp = Arc::new(Csp::new(&cfg.hub_prefix()));
        let templates =
            crate::web::templates::Templates::load(&cfg.template_paths, &cfg.hub_prefix())
                .map_err(|e| HubError(e.to_string()))?;
        Ok(Hub(Arc::new(HubParts {
            csp,
            templates: Arc::new(templates),
            node,
            cfg: Arc::new(cfg),
            authz: Arc::new(Authz::new(reg)),
            activity: Arc::new(ActivityBuffer::default()),
            shutdown: Arc::new(watch::channel(false).0),
            routes: rafthub_proxy::RouteTable::new(false),
            slow_verified: Arc::new(Mutex::new(HashMap::new())),
            auth: Arc::new(crate::web::authenticator::Native {
                allow_signup: false,
            }),
            auth_cfg: Arc::new(Default::default()),
            spawner_cfg: Arc::new(Default::default()),
            proxy: None,
        })))
    }

    /// Uses the configured authenticator (`[auth]`).
    pub fn with_auth(
        mut self,
        mut cfg: crate::web::authenticator::AuthConfig,
    ) -> Result<Hub, String> {
        normalize_names(&mut cfg.allowed_users);
        normalize_names(&mut cfg.blocked_users);
        let p = Arc::make_mut(&mut self.0);
        p.auth = crate::web::authenticator::from_config(&cfg)?;
        p.auth_cfg = Arc::new(cfg);
        Ok(self)
    }

    pub fn with_spawner(mut self, cfg: crate::spawner::SpawnerConfig) -> Hub {
        Arc::make_mut(&mut self.0).spawner_cfg = Arc::new(cfg);
        self
    }

    /// This replica's proxy, for its metrics.
    pub fn with_proxy(mut self, proxy: rafthub_proxy::Proxy) -> Hub {
        Arc::make_mut(&mut self.0).proxy = Some(proxy);
        self
    }

    /// Linearizable reads and miss confirmations wait at most this long for the leader.
    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }

    /// `{base_url}hub/`.
    pub fn hub_prefix(&self) -> String {
        self.cfg.hub_prefix()
    }

    /// Whether `secret` (whose SHA-256 hex is `sha`) is token `t`.
    pub fn verify_token(&self, secret: &str, sha: &str, t: &Token) -> bool {
        match &t.hash {
            TokenHash::Sha256(_) => crate::secrets::verify(secret, sha, &t.hash),
            TokenHash::Slow(_) => {
                if self.slow_verified.lock().get(sha) == Some(&t.id) {
                    return true;
                }
                let ok = crate::secrets::verify(secret, sha, &t.hash);
                if ok {
                    let mut c = self.slow_verified.lock();
                    if c.len() > 10_000 {
                        c.clear();
                    }
                    c.insert(sha.to_string(), t.id);
                }
                ok
            }
        }
    }

    /// When the local proxy last saw traffic on a route (hub routespec form).
    pub fn route_activity(&self, hub_spec: &str) -> Option<i64> {
        let r = self.routes.get(&rafthub_proxy::canonical_spec(hub_spec))?;
        let d = r
            .last_activity()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(d.as_micros() as i64)
    }

    /// A server's URL prefix: `{base_url}user/<name>/` or `{base_url}user/<name>/<server>/`.
    pub fn server_prefix(&self, user: &str, server: &str) -> String {
        crate::reconcile::server_routespec(&self.cfg.base_url, user, server)
    }

    /// `{base_url}user/<quoted name>/`.
    pub fn user_url(&self, name: &str) -> String {
        format!(
            "{}user/{}/",
            self.cfg.base_url,
            crate::api::names::quote_name(name)
        )
    }
}

/// Lower-cases configured user names (upstream's `normalize_username`).
fn normalize_names(names: &mut [String]) {
    for n in names {
        *n = crate::api::names::normalize_username(n);
    }
}
