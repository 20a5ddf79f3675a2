//! The `[hub]` section: JupyterHub-level settings, named after upstream's traitlets where one
//! exists (`concurrent_spawn_limit`, `api_page_max_limit`, `load_roles`, ...).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// URL prefix of everything (`JupyterHub.base_url`); the hub lives at `{base_url}hub/`.
    pub base_url: String,
    /// Public origin (`https://hub.example.org`), used for absolute URLs handed to servers.
    pub public_url: Option<String>,
    /// Users created as admins at start-up (`Authenticator.admin_users`).
    pub admin_users: Vec<String>,
    /// Services defined by configuration (`JupyterHub.services`).
    pub services: Vec<ServiceConfig>,
    /// Roles defined by configuration (`JupyterHub.load_roles`).
    pub roles: Vec<RoleConfig>,
    /// Extra `custom:` scopes usable in roles (`JupyterHub.custom_scopes`).
    pub custom_scopes: BTreeMap<String, CustomScopeConfig>,
    /// How often coalesced activity is replicated (DESIGN invariant 8).
    pub activity_flush_ms: u64,
    /// Token and user `last_activity` from authenticated requests is recorded at most this
    /// often per token (`JupyterHub.activity_resolution`).
    pub activity_resolution_s: u64,
    pub api_page_default_limit: usize,
    pub api_page_max_limit: usize,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    pub concurrent_spawn_limit: u32,
    pub active_server_limit: u32,
    pub allow_named_servers: bool,
    pub named_server_limit_per_user: u32,
    /// After login (and at `{hub}`), send users to their server, starting it when it is not
    /// running (`JupyterHub.redirect_to_server`); off: to the home page.
    pub redirect_to_server: bool,
    /// Logging out stops every server of the user (`JupyterHub.shutdown_on_logout`).
    pub shutdown_on_logout: bool,
    /// Upper bound on `expires_in` of new API tokens; 0 means none (upstream 5.1+).
    pub token_expires_in_max_seconds: u64,
    /// Answer with `authenticate_prometheus = false` semantics on `/hub/metrics`.
    pub authenticate_prometheus: bool,
    /// Base URL servers use to reach the hub API (`JupyterHub.hub_connect_url`), e.g. a
    /// Kubernetes Service over all replicas. Default: this replica's API address.
    pub hub_connect_url: Option<String>,
    /// Extra scopes servers' OAuth clients may grant (`Spawner.oauth_client_allowed_scopes`).
    pub oauth_client_allowed_scopes: Vec<String>,
    /// Image served at `{hub}logo` (`JupyterHub.logo_file`; single-user pages show it).
    /// Default: rafthub's own.
    pub logo_file: Option<PathBuf>,
    /// Directories of page templates searched before the built-in ones
    /// (`JupyterHub.template_paths`): a file named like a built-in page replaces it, and the
    /// built-ins stay reachable as `templates/<name>` (`templates/page.html` is the layout).
    pub template_paths: Vec<PathBuf>,
    /// Extra variables for every page template (`JupyterHub.template_vars`), e.g.
    /// `announcement` or `announcement_login` (HTML shown at the top of the pages).
    pub template_vars: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    /// The service's API token. Prefer `api_token_file`; stored hashed, never replicated.
    #[serde(default)]
    pub api_token: Option<String>,
    #[serde(default)]
    pub api_token_file: Option<PathBuf>,
    /// Upstream's deprecated `admin: True`: grants the `admin` role.
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default = "yes")]
    pub display: bool,
    /// A hub-managed service: the leader runs this command (e.g. jupyterhub-idle-culler).
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Skip the OAuth confirmation page when users log in to this service (upstream's
    /// `oauth_no_confirm`).
    #[serde(default)]
    pub oauth_no_confirm: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomScopeConfig {
    pub description: String,
    #[serde(default)]
    pub subscopes: Vec<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            base_url: "/".into(),
            public_url: None,
            admin_users: Vec::new(),
            services: Vec::new(),
            roles: Vec::new(),
            custom_scopes: BTreeMap::new(),
            activity_flush_ms: 2000,
            activity_resolution_s: 30,
            api_page_default_limit: 50,
            api_page_max_limit: 200,
            max_body_bytes: 1024 * 1024,
            concurrent_spawn_limit: 100,
            active_server_limit: 0,
            allow_named_servers: false,
            named_server_limit_per_user: 0,
            redirect_to_server: true,
            shutdown_on_logout: false,
            token_expires_in_max_seconds: 0,
            authenticate_prometheus: true,
            hub_connect_url: None,
            oauth_client_allowed_scopes: Vec::new(),
            logo_file: None,
            template_paths: Vec::new(),
            template_vars: BTreeMap::new(),
        }
    }
}

impl ServiceConfig {
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        if let Some(t) = &self.api_token {
            return Ok(Some(t.clone()));
        }
        match &self.api_token_file {
            None => Ok(None),
            Some(p) => std::fs::read_to_string(p)
                .map(|s| Some(s.trim().to_string()))
                .map_err(|source| ConfigError::Secret {
                    path: p.clone(),
                    source,
                }),
        }
    }
}

impl HubConfig {
    /// `{base_url}hub/`, always with slashes on both ends.
    pub fn hub_prefix(&self) -> String {
        format!("{}hub/", self.base_url)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| ConfigError::Invalid { key, message };
        if !self.base_url.starts_with('/') || !self.base_url.ends_with('/') {
            return Err(invalid(
                "hub.base_url",
                format!("{:?} must start and end with '/'", self.base_url),
            ));
        }
        if self.api_page_default_limit == 0 || self.api_page_max_limit < self.api_page_default_limit
        {
            return Err(invalid(
                "hub.api_page_max_limit",
                "must be at least api_page_default_limit, which must be at least 1".into(),
            ));
        }
        if self.activity_flush_ms == 0 || self.activity_flush_ms > 600_000 {
            return Err(invalid(
                "hub.activity_flush_ms",
                "must be between 1 and 600000".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid(
                "hub.max_body_bytes",
                "must be at least 1024".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for s in &self.services {
            if s.name.is_empty() || !names.insert(&s.name) {
                return Err(invalid(
                    "hub.services",
                    format!("service name {:?} is empty or repeated", s.name),
                ));
            }
            if let Some(t) = s.token()? {
                if t.len() < 8 {
                    return Err(invalid(
                        "hub.services",
                        format!(
                            "the api_token of service {} is shorter than 8 characters",
                            s.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
