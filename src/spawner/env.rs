//! The environment of a single-user server, exactly as upstream's `Spawner.get_env()` builds
//! it (contract §3.1). Pure: inputs in, a map out.

use std::collections::BTreeMap;

use super::SpawnerConfig;

/// What the environment is built from.
#[derive(Debug, Clone)]
pub struct EnvInputs<'a> {
    pub user: &'a str,
    pub server: &'a str,
    /// The server's API token (also its OAuth client secret).
    pub api_token: &'a str,
    pub client_id: &'a str,
    /// `.../hub/api` as servers reach it (`hub_connect_url`).
    pub hub_api_url: &'a str,
    /// `JupyterHub.base_url` (`/`).
    pub base_url: &'a str,
    /// The server's URL prefix (`/user/alice/`).
    pub prefix: &'a str,
    /// Public origin (`https://hub.example.org`) or empty.
    pub public_host: &'a str,
    /// Public URL of this server or empty.
    pub public_url: &'a str,
    pub public_hub_url: &'a str,
    pub oauth_client_allowed_scopes: &'a [String],
}

/// Python's `quote(name, safe='')`-style escaping used in the activity URL path.
fn escape(name: &str) -> String {
    crate::api::names::quote_name(name)
}

/// Builds the environment. `host_env` looks up the hub's own environment for `env_keep`.
pub fn server_env(
    i: &EnvInputs<'_>,
    cfg: &SpawnerConfig,
    host_env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for key in &cfg.env_keep {
        if let Some(v) = host_env(key) {
            env.insert(key.clone(), v);
        }
    }
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("JUPYTERHUB_API_TOKEN", i.api_token.to_string());
    set("JPY_API_TOKEN", i.api_token.to_string());
    set("JUPYTERHUB_CLIENT_ID", i.client_id.to_string());
    set("JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED", "0".into());
    set("JUPYTERHUB_HOST", i.public_host.to_string());
    set(
        "JUPYTERHUB_OAUTH_CALLBACK_URL",
        format!("{}oauth_callback", i.prefix),
    );
    let access = rafthub_rbac::server_oauth_access_scopes(i.user, i.server);
    let access = serde_json::to_string(&access).unwrap_or_else(|_| "[]".into());
    set("JUPYTERHUB_OAUTH_SCOPES", access.clone());
    set("JUPYTERHUB_OAUTH_ACCESS_SCOPES", access);
    set(
        "JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES",
        serde_json::to_string(i.oauth_client_allowed_scopes).unwrap_or_else(|_| "[]".into()),
    );
    set("JUPYTERHUB_USER", i.user.to_string());
    set("JUPYTERHUB_SERVER_NAME", i.server.to_string());
    set("JUPYTERHUB_API_URL", i.hub_api_url.to_string());
    set(
        "JUPYTERHUB_ACTIVITY_URL",
        format!(
            "{}/users/{}/activity",
            i.hub_api_url.trim_end_matches('/'),
            escape(i.user)
        ),
    );
    set("JUPYTERHUB_BASE_URL", i.base_url.to_string());
    set("JUPYTERHUB_SERVICE_PREFIX", i.prefix.to_string());
    set("JUPYTERHUB_PUBLIC_URL", i.public_url.to_string());
    set("JUPYTERHUB_PUBLIC_HUB_URL", i.public_hub_url.to_string());
    if let Some(d) = &cfg.notebook_dir {
        set("JUPYTERHUB_ROOT_DIR", d.replace("{username}", i.user));
    }
    if let Some(d) = &cfg.default_url {
        set("JUPYTERHUB_DEFAULT_URL", d.replace("{username}", i.user));
    }
    for (k, v) in &cfg.environment {
        set(k, v.replace("{username}", i.user));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_matches_upstream_for_a_default_server() {
        let cfg = SpawnerConfig {
            env_keep: vec!["PATH".into(), "ABSENT".into()],
            environment: [("EXTRA".to_string(), "x-{username}".to_string())].into(),
            default_url: Some("/lab".into()),
            ..SpawnerConfig::default()
        };
        let i = EnvInputs {
            user: "alice",
            server: "",
            api_token: "tok",
            client_id: "jupyterhub-user-alice",
            hub_api_url: "http://hub:8081/hub/api",
            base_url: "/",
            prefix: "/user/alice/",
            public_host: "",
            public_url: "",
            public_hub_url: "",
            oauth_client_allowed_scopes: &[],
        };
        let env = server_env(&i, &cfg, |k| (k == "PATH").then(|| "/usr/bin".to_string()));
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("PATH"), Some("/usr/bin"));
        assert_eq!(get("ABSENT"), None);
        assert_eq!(get("JUPYTERHUB_API_TOKEN"), Some("tok"));
        assert_eq!(get("JPY_API_TOKEN"), Some("tok"));
        assert_eq!(
            get("JUPYTERHUB_ACTIVITY_URL"),
            Some("http://hub:8081/hub/api/users/alice/activity")
        );
        assert_eq!(
            get("JUPYTERHUB_OAUTH_CALLBACK_URL"),
            Some("/user/alice/oauth_callback")
        );
        assert_eq!(
            get("JUPYTERHUB_OAUTH_ACCESS_SCOPES"),
            Some(r#"["access:servers!server=alice/","access:servers!user=alice"]"#)
        );
        assert_eq!(get("JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES"), Some("[]"));
        assert_eq!(get("JUPYTERHUB_SERVER_NAME"), Some(""));
        assert_eq!(get("JUPYTERHUB_DEFAULT_URL"), Some("/lab"));
        assert_eq!(get("EXTRA"), Some("x-alice"));
    }
}
