//! Route reconciliation, upstream's `check_routes` as a pure function: the routes that should
//! exist (ready servers, services with a URL) against the replicated route table.
//!
//! Like upstream with configurable-http-proxy, only routes marked `"jupyterhub": true` in
//! their data belong to the hub: routes that other tools added through the route API are
//! never deleted by reconciliation.

use std::collections::BTreeMap;

use rafthub_raft::command::Command;
use rafthub_raft::state::model::Route;
use rafthub_raft::HubState;
use serde_json::json;

use crate::api::names::quote_name;

/// The routespec of a user's server: `{base}user/<name>/[<server>/]`.
pub fn server_routespec(base_url: &str, user: &str, server: &str) -> String {
    if server.is_empty() {
        format!("{base_url}user/{}/", quote_name(user))
    } else {
        format!(
            "{base_url}user/{}/{}/",
            quote_name(user),
            quote_name(server)
        )
    }
}

/// Routes that must exist, by routespec.
pub fn desired_routes(st: &HubState, base_url: &str) -> BTreeMap<String, Route> {
    let mut out = BTreeMap::new();
    for u in st.users() {
        for s in u.servers.values() {
            if let (true, Some(target)) = (s.ready(), &s.target) {
                let spec = s
                    .routespec
                    .clone()
                    .unwrap_or_else(|| server_routespec(base_url, &u.name, &s.name));
                out.insert(
                    spec.clone(),
                    Route {
                        routespec: spec,
                        target: target.clone(),
                        data: json!({"user": u.name, "server_name": s.name, "jupyterhub": true})
                            .into(),
                    },
                );
            }
        }
    }
    for svc in st.services() {
        if let Some(url) = &svc.url {
            let spec = format!("{base_url}services/{}/", quote_name(&svc.name));
            out.insert(
                spec.clone(),
                Route {
                    routespec: spec,
                    target: url.trim_end_matches('/').to_string(),
                    data: json!({"service": svc.name, "jupyterhub": true}).into(),
                },
            );
        }
    }
    out
}

/// The commands that make the route table equal the desired routes. Routes of servers that
/// are still spawning are left alone (upstream: "good but left alone").
pub fn route_commands(st: &HubState, base_url: &str) -> Vec<Command> {
    let want = desired_routes(st, base_url);
    let pending: std::collections::BTreeSet<String> = st
        .users()
        .flat_map(|u| {
            u.servers
                .values()
                .filter(|s| s.pending().is_some())
                .map(move |s| server_routespec(base_url, &u.name, &s.name))
        })
        .collect();
    let mut cmds = Vec::new();
    for r in st.routes() {
        let hub_owned = r.data.get("jupyterhub") == Some(serde_json::Value::Bool(true));
        if hub_owned && !want.contains_key(&r.routespec) && !pending.contains(&r.routespec) {
            cmds.push(Command::DeleteRoute {
                routespec: r.routespec.clone(),
            });
        }
    }
    for (spec, r) in want {
        if st
            .route(&spec)
            .is_none_or(|cur| cur.target != r.target || cur.data != r.data)
        {
            cmds.push(Command::PutRoute { route: r });
        }
    }
    cmds
}

#[cfg(test)]
mod tests {
    use rafthub_raft::command::{Command, NewUser, Proposal};
    use rafthub_raft::state::Dirty;
    use rafthub_raft::HubState;
    use serde_json::json;

    use super::*;

    fn apply(st: &mut HubState, cmds: Vec<Command>) {
        let mut d = Dirty::new();
        for (i, cmd) in cmds.into_iter().enumerate() {
            st.apply(
                &Proposal {
                    id: rand::random(),
                    now: 1_000 + i as i64,
                    cmd,
                },
                &mut d,
            );
        }
    }

    fn route(spec: &str, target: &str, data: serde_json::Value) -> Command {
        Command::PutRoute {
            route: Route {
                routespec: spec.into(),
                target: target.into(),
                data: data.into(),
            },
        }
    }

    #[test]
    fn keeps_foreign_routes_deletes_stale_hub_routes_adds_ready_servers() {
        let mut st = HubState::default();
        let new = |n: &str| NewUser {
            name: n.into(),
            admin: false,
            cookie_id: String::new(),
        };
        apply(
            &mut st,
            vec![Command::CreateUsers {
                users: vec![new("alice")],
                skip_existing_ok: false,
            }],
        );
        apply(
            &mut st,
            vec![
                Command::RequestSpawn {
                    user: "alice".into(),
                    server: String::new(),
                    user_options: None,
                    display_name: None,
                    concurrent_spawn_limit: 0,
                    active_server_limit: 0,
                    named_server_limit: None,
                },
                Command::ServerReady {
                    user: "alice".into(),
                    server: String::new(),
                    generation: 1,
                    target: "http://127.0.0.1:9000".into(),
                    route: Route {
                        routespec: "/user/alice/".into(),
                        target: "http://127.0.0.1:9000".into(),
                        data: json!({"user": "alice", "server_name": "", "jupyterhub": true})
                            .into(),
                    },
                },
                route("/foreign/", "http://127.0.0.1:1", json!({})),
                route(
                    "/user/ghost/",
                    "http://127.0.0.1:2",
                    json!({"user": "ghost", "server_name": "", "jupyterhub": true}),
                ),
                Command::DeleteRoute {
                    routespec: "/user/alice/".into(),
                },
            ],
        );
        let cmds = route_commands(&st, "/");
        assert_eq!(cmds.len(), 2, "{cmds:?}");
        assert!(
            matches!(&cmds[0], Command::DeleteRoute { routespec } if routespec == "/user/ghost/")
        );
        assert!(
            matches!(&cmds[1], Command::PutRoute { route } if route.routespec == "/user/alice/"
            && route.target == "http://127.0.0.1:9000")
        );
        apply(&mut st, cmds);
        assert!(
            route_commands(&st, "/").is_empty(),
            "reconciliation converges"
        );
        assert!(st.route("/foreign/").is_some());
    }
}
