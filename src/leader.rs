//! Duties of the leader replica: make the replicated state match the configuration (admin
//! users, services and their tokens, roles), purge expired tokens, and reconcile routes.
//!
//! Every duty is idempotent (set-to-value or create-if-absent), so a new leader simply runs
//! them again; two leaders in quick succession cannot double-apply anything.

use std::time::Duration;

use rafthub_raft::command::{Command, NewUser, RoleAssignment, UserPatch};
use rafthub_raft::state::model::{ClientKind, OAuthClient, Owner, Role, Service, Token, TokenHash};
use rafthub_rbac::{self as rbac, ScopeRegistry};

use crate::hub::Hub;
use crate::hub_config::HubConfig;
use crate::{secrets, timefmt};

/// How often the leader re-checks everything even without a leadership change.
const PERIOD: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ConfigStateError {
    #[error("role {role}: {message}")]
    Role { role: String, message: String },
}

/// Checks the configured roles against the scope registry; run at start-up so a bad role is a
/// start-up error, as upstream's `load_roles` makes it.
pub fn validate_roles(cfg: &HubConfig, reg: &ScopeRegistry) -> Result<(), ConfigStateError> {
    for r in &cfg.roles {
        let role = rbac::Role {
            name: r.name.clone(),
            description: Some(r.description.clone()),
            scopes: r.scopes.clone(),
        };
        rbac::validate_role(&role, reg).map_err(|e| ConfigStateError::Role {
            role: r.name.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// The commands that bring the state in line with the config, given the current state.
fn config_commands(hub: &Hub) -> Vec<Command> {
    let cfg = &hub.cfg;
    let st = hub.node.state();
    let mut cmds = Vec::new();
    if st.oauth_client("jupyterhub").is_none() {
        cmds.push(Command::PutOAuthClient {
            client: OAuthClient {
                id: "jupyterhub".into(),
                kind: ClientKind::Hub,
                description: "JupyterHub".into(),
                secret_hash: None,
                redirect_uri: format!("{}oauth_callback", hub.hub_prefix()),
                allowed_scopes: Vec::new(),
            },
        });
    }
    // Admin users, then the users config roles name (upstream's `load_roles` creates them
    // too, so the role holds from their first login).
    let mut missing: Vec<NewUser> = Vec::new();
    let role_users = cfg.roles.iter().flat_map(|r| r.users.iter());
    for (n, admin) in cfg
        .admin_users
        .iter()
        .filter(|n| !hub.is_blocked(n))
        .map(|n| (n, true))
        .chain(role_users.map(|n| (n, false)))
    {
        if st.user(n).is_none() && !missing.iter().any(|u| &u.name == n) {
            missing.push(NewUser {
                name: n.clone(),
                admin,
                cookie_id: secrets::new_token(),
            });
        }
    }
    if !missing.is_empty() {
        cmds.push(Command::CreateUsers {
            users: missing,
            skip_existing_ok: true,
        });
    }
    for n in cfg.admin_users.iter().filter(|n| !hub.is_blocked(n)) {
        if st.user(n).is_some_and(|u| !u.admin) {
            cmds.push(Command::UpdateUser {
                name: n.clone(),
                patch: UserPatch {
                    admin: Some(true),
                    ..Default::default()
                },
            });
        }
    }
    // Blocked users lose admin, roles and groups, and their servers stop (upstream 5.2's
    // `init_blocked_users` and `check_spawner`).
    for n in &hub.auth_cfg.blocked_users {
        let Some(u) = st.user(n) else { continue };
        let grouped = st.user_group_ids(u.id).next().is_some();
        if u.admin || !u.roles.is_empty() || grouped {
            cmds.push(Command::UpdateUser {
                name: n.clone(),
                patch: UserPatch {
                    admin: Some(false),
                    roles: Some(Vec::new()),
                    groups: Some(Vec::new()),
                    ..Default::default()
                },
            });
        }
        for s in u.servers.values().filter(|s| s.active()) {
            cmds.push(Command::RequestStop {
                user: n.clone(),
                server: s.name.clone(),
                remove: false,
            });
        }
    }
    let services: Vec<Service> = cfg
        .services
        .iter()
        .map(|s| Service {
            name: s.name.clone(),
            admin: s.admin,
            url: s.url.clone(),
            from_config: true,
            roles: Default::default(),
            display: s.display,
            info: serde_json::json!({}),
            oauth_client_id: None,
            command: s.command.clone(),
            oauth_no_confirm: s.oauth_no_confirm,
        })
        .collect();
    let differs = services.iter().any(|s| {
        st.service(&s.name).is_none_or(|cur| {
            cur.admin != s.admin
                || cur.url != s.url
                || cur.command != s.command
                || cur.oauth_no_confirm != s.oauth_no_confirm
                || !cur.from_config
        })
    }) || st
        .services()
        .any(|s| s.from_config && !services.iter().any(|c| c.name == s.name));
    if differs {
        cmds.push(Command::SyncConfigServices { services });
    }
    let roles: Vec<RoleAssignment> = cfg
        .roles
        .iter()
        .map(|r| RoleAssignment {
            role: Role {
                name: r.name.clone(),
                description: r.description.clone(),
                scopes: r.scopes.clone(),
                from_config: true,
            },
            users: r
                .users
                .iter()
                .filter(|u| !hub.is_blocked(u))
                .cloned()
                .collect(),
            groups: r.groups.clone(),
            services: r.services.clone(),
        })
        .collect();
    let roles_differ = roles.iter().any(|a| {
        st.role(&a.role.name)
            .is_none_or(|cur| cur.scopes != a.role.scopes)
            || a.users
                .iter()
                .any(|u| st.user(u).is_some_and(|x| !x.roles.contains(&a.role.name)))
            || a.services.iter().any(|s| {
                st.service(s)
                    .is_some_and(|x| !x.roles.contains(&a.role.name))
            })
            || a.groups
                .iter()
                .any(|g| st.group(g).is_some_and(|x| !x.roles.contains(&a.role.name)))
    }) || st
        .roles()
        .any(|r| r.from_config && !roles.iter().any(|a| a.role.name == r.name));
    if roles_differ {
        cmds.push(Command::SyncConfigRoles { roles });
    }
    cmds
}

/// The OAuth client of a service with a URL, as upstream registers it: id
/// `service-<name>`, the service's API token as its secret, redirect URI
/// `{base_url}services/<name>/oauth_callback` (what HubOAuth sends from
/// `JUPYTERHUB_OAUTH_CALLBACK_URL`). Without it no user could log in to a HubOAuth service.
pub fn service_oauth_client(cfg: &HubConfig, name: &str, secret: &str) -> OAuthClient {
    OAuthClient {
        id: format!("service-{name}"),
        kind: ClientKind::Service(name.to_string()),
        description: format!("JupyterHub service {name}"),
        secret_hash: Some(secrets::sha256_hex(secret)),
        redirect_uri: format!(
            "{}services/{}/oauth_callback",
            cfg.base_url,
            crate::api::names::quote_name(name)
        ),
        allowed_scopes: vec![format!("access:services!service={name}")],
    }
}

/// Whether the state lacks `client` as given (absent, or another secret or redirect).
pub fn client_differs(st: &rafthub_raft::state::HubState, client: &OAuthClient) -> bool {
    st.oauth_client(&client.id).is_none_or(|c| {
        c.secret_hash != client.secret_hash
            || c.redirect_uri != client.redirect_uri
            || c.kind != client.kind
            || c.allowed_scopes != client.allowed_scopes
    })
}

/// Service tokens from the config that the state does not hold yet (hashed slowly: operator
/// tokens may be weak).
fn token_commands(hub: &Hub) -> Vec<Command> {
    let st = hub.node.state();
    let mut cmds = Vec::new();
    for s in &hub.cfg.services {
        let Ok(Some(secret)) = s.token() else {
            continue;
        };
        if st.service(&s.name).is_none() {
            continue; // created by the service sync first; next round adds the token
        }
        if s.url.is_some() {
            let client = service_oauth_client(&hub.cfg, &s.name, &secret);
            if client_differs(&st, &client) {
                cmds.push(Command::PutOAuthClient { client });
            }
        }
        let owner = Owner::Service(s.name.clone());
        let sha = secrets::sha256_hex(&secret);
        let present = st
            .tokens_with_prefix(secrets::prefix(&secret))
            .any(|t| t.owner == owner && hub.verify_token(&secret, &sha, t));
        if !present {
            cmds.push(Command::CreateToken {
                token: Token {
                    id: 0,
                    prefix: secrets::prefix(&secret).to_string(),
                    hash: TokenHash::Slow(secrets::slow_hash(&secret)),
                    owner,
                    scopes: vec!["inherit".into()],
                    note: "from config".into(),
                    created: timefmt::now(),
                    last_activity: None,
                    expires_at: None,
                    session_id: None,
                    client_id: "jupyterhub".into(),
                },
            });
        }
    }
    cmds
}

async fn run_duties(hub: &Hub, with_routes: bool) {
    let mut cmds = config_commands(hub);
    cmds.extend(token_commands(hub));
    cmds.push(Command::PurgeExpired);
    for cmd in cmds {
        if let Err(e) = hub.node.write(cmd).await {
            tracing::debug!(error = %e, "leader duty failed; will retry");
            return;
        }
    }
    // Service tokens need their service first: a second pass picks them up.
    for cmd in token_commands(hub) {
        if hub.node.write(cmd).await.is_err() {
            return;
        }
    }
    // Routes last, from the state the duties above made: a service from the config gets
    // its route in the round that creates it, not a reconcile period later.
    if with_routes {
        let routes = crate::reconcile::route_commands(&hub.node.state(), &hub.cfg.base_url);
        for cmd in routes {
            if hub.node.write(cmd).await.is_err() {
                return;
            }
        }
    }
}

/// Runs the duties whenever this replica becomes leader, then every [`PERIOD`].
pub async fn run(hub: Hub) {
    // Server metrics change with the role and the leader only (the full metrics after every
    // batch of writes); the cluster config, set once at bootstrap, is caught by the timeout.
    let mut metrics = hub.node.raft().server_metrics();
    let mut was_leader = false;
    let mut last = tokio::time::Instant::now();
    let mut rounds: u64 = 0;
    loop {
        let leader = hub.node.is_leader() && hub.node.state().cluster_config().is_some();
        if leader && (!was_leader || last.elapsed() >= PERIOD) {
            // Routes are reconciled on every leader change and every tenth period (~5 min),
            // like upstream's `last_activity_interval` check.
            run_duties(&hub, !was_leader || rounds % 10 == 0).await;
            last = tokio::time::Instant::now();
            rounds += 1;
        }
        was_leader = leader;
        let _ = tokio::time::timeout(Duration::from_secs(1), metrics.changed()).await;
        if *hub.shutdown.borrow() {
            return;
        }
    }
}
