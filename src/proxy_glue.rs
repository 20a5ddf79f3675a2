//! Glue between the replicated state and this replica's embedded proxy: the local route table
//! follows the replicated routes, proxied activity flows into the activity buffer, and the
//! CHP-compatible route API writes through Raft.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rafthub_proxy::{
    canonical_spec, Route as ProxyRoute, RouteTable, RouteWriteError, RouteWriter,
};
use rafthub_raft::command::{Command, Outcome};
use rafthub_raft::state::model::{Route, RouteData, Ts};
use serde_json::{json, Map, Value};

use crate::hub::Hub;

/// How long a route write waits for the other replicas to apply it before answering.
const ROUTE_ACK_WAIT: Duration = Duration::from_secs(2);

/// The proxy's form of a replicated route; `None` (logged) for one it cannot use.
fn proxy_route(r: &Route) -> Option<ProxyRoute> {
    ProxyRoute::with_json_data(&r.routespec, &r.target, r.data.json().clone())
        .inspect_err(
            |e| tracing::warn!(spec = %r.routespec, error = %e, "skipping an unusable route"),
        )
        .ok()
}

/// The local table: every replicated route plus this replica's default route to its own hub.
/// Returns the mirror of what it installed, for `sync_changes`.
pub fn sync_table(table: &RouteTable, hub: &Hub, hub_target: &str) -> Mirror {
    let mut mirror = Mirror {
        hub_route: hub_route(hub, hub_target),
        ..Mirror::default()
    };
    // The hub route first, so that a replicated route at the same spec (a CHP-API POST of
    // `/`) overrides it: `replace_all` keeps the last route given per spec, as `sync_changes`.
    let mut routes: Vec<ProxyRoute> = mirror.hub_route.iter().cloned().collect();
    {
        let st = hub.node.state();
        for r in st.routes() {
            mirror
                .routes
                .insert(r.routespec.clone(), (r.target.clone(), r.data.clone(), 0));
            routes.extend(proxy_route(r));
        }
    }
    table.replace_all(routes);
    mirror
}

/// This replica's default route to its own hub (`{"hub": true}` at the base URL).
fn hub_route(hub: &Hub, hub_target: &str) -> Option<ProxyRoute> {
    let mut hub_data = Map::new();
    hub_data.insert("hub".into(), json!(true));
    ProxyRoute::new(&hub.cfg.base_url, hub_target, hub_data)
        .inspect_err(|e| tracing::error!(error = %e, "no default route to the hub"))
        .ok()
}

/// What the table holds of the replicated routes: spec → (target, data, the pass that
/// last saw it in the state). The data is the state's shared text, not a copy.
#[derive(Default)]
pub struct Mirror {
    routes: HashMap<String, (String, RouteData, u64)>,
    pass: u64,
    /// The local default route, put back when a replicated route at its spec is removed.
    hub_route: Option<ProxyRoute>,
}

/// Brings the table from `mirror` to the replicated routes with one new snapshot, rebuilding
/// only routes that changed. Rebuilding the whole table on every change cost O(routes) per
/// route change on every replica: at 10,000 routes a spawn storm kept the proxies busy.
pub fn sync_changes(table: &RouteTable, hub: &Hub, mirror: &mut Mirror) {
    mirror.pass += 1;
    let pass = mirror.pass;
    let mut upserts = Vec::new();
    {
        let st = hub.node.state();
        for r in st.routes() {
            if let Some((target, data, seen)) = mirror.routes.get_mut(&r.routespec) {
                if *target == r.target && *data == r.data {
                    *seen = pass;
                    continue;
                }
            }
            mirror.routes.insert(
                r.routespec.clone(),
                (r.target.clone(), r.data.clone(), pass),
            );
            upserts.extend(proxy_route(r));
        }
    }
    let gone: Vec<String> = mirror
        .routes
        .iter()
        .filter(|(_, (_, _, seen))| *seen != pass)
        .map(|(spec, _)| spec.clone())
        .collect();
    for spec in &gone {
        mirror.routes.remove(spec);
    }
    // The mirror holds the hub's escaped form (`/user/a%2Bb/`), the table the decoded one.
    let removes: Vec<String> = gone.iter().map(|s| canonical_spec(s)).collect();
    if let Some(h) = &mirror.hub_route {
        if removes.iter().any(|s| s == h.spec()) {
            upserts.push(h.clone());
        }
    }
    table.update(upserts, &removes);
}

/// Keeps the table in step with applied route changes until the hub shuts down, from the
/// full install `sync_table` made (its `mirror`) after `seen` was the routes version.
pub async fn follow_routes(hub: Hub, mut mirror: Mirror, mut seen: u64) {
    let mut applied = hub.node.applied();
    loop {
        let v = applied.borrow_and_update().routes_version;
        if v != seen {
            sync_changes(&hub.routes, &hub, &mut mirror);
            seen = v;
        }
        if applied.changed().await.is_err() {
            return;
        }
    }
}

/// Moves proxied activity (per route) into the activity buffer (per user and server).
pub fn drain_activity(hub: &Hub) {
    let records = hub.routes.take_activity();
    if records.is_empty() {
        return;
    }
    let st = hub.node.state();
    for rec in records {
        let Some(r) = hub.routes.get(&rec.spec) else {
            continue;
        };
        let data = r.data();
        let (Some(user), Some(server)) = (
            data.get("user").and_then(Value::as_str),
            data.get("server_name").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Some(u) = st.user(user) else { continue };
        let Ok(d) = rec.last_activity.duration_since(std::time::UNIX_EPOCH) else {
            continue;
        };
        hub.activity
            .record(u.id, Some(server), d.as_micros() as i64);
    }
}

/// Raises each running server's route `last_activity` in this replica's table to the
/// replicated value, so the CHP API lists the same time on every replica (traffic through
/// another replica's proxy counts too). Merged values are not reported back as new activity.
pub fn merge_cluster_activity(hub: &Hub) {
    let merged: Vec<(String, Ts)> = {
        let st = hub.node.state();
        st.active_server_list()
            .filter_map(|(_, s)| Some((canonical_spec(s.routespec.as_deref()?), s.last_activity?)))
            .collect()
    };
    for (spec, ts) in merged {
        let Ok(us) = u64::try_from(ts) else { continue };
        hub.routes
            .merge_activity(&spec, UNIX_EPOCH + Duration::from_micros(us));
    }
}

/// Python's `quote(path, safe='@/~')`, for turning a canonical spec back into hub form.
const SPEC_QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'/');

/// Canonical proxy spec (`/user/alice`) → the hub's routespec (`/user/alice/`).
pub fn hub_spec(canonical: &str) -> String {
    let q = utf8_percent_encode(canonical, SPEC_QUOTE).to_string();
    if q.ends_with('/') {
        q
    } else {
        format!("{q}/")
    }
}

/// The CHP route API's writer: commits through Raft, answers once every reachable replica
/// has applied the change (bounded by [`ROUTE_ACK_WAIT`]).
pub struct RaftRouteWriter {
    pub hub: Hub,
}

impl RaftRouteWriter {
    async fn commit(&self, cmd: Command) -> Result<Outcome, RouteWriteError> {
        let o = self
            .hub
            .node
            .write(cmd)
            .await
            .map_err(|e| RouteWriteError::Unavailable(e.to_string()))?;
        let index = self.hub.node.applied().borrow().index;
        self.hub
            .node
            .wait_applied_everywhere(index, ROUTE_ACK_WAIT)
            .await;
        Ok(o)
    }
}

impl RouteWriter for RaftRouteWriter {
    async fn add_route(&self, route: ProxyRoute) -> Result<(), RouteWriteError> {
        let r = Route {
            routespec: hub_spec(route.spec()),
            target: route.target().to_string(),
            data: RouteData::new(&Value::Object(route.data())),
        };
        match self.commit(Command::PutRoute { route: r }).await? {
            Outcome::Ok => Ok(()),
            o => Err(RouteWriteError::Internal(format!("{o:?}"))),
        }
    }

    async fn delete_route(&self, spec: String) -> Result<(), RouteWriteError> {
        match self
            .commit(Command::DeleteRoute {
                routespec: hub_spec(&spec),
            })
            .await?
        {
            Outcome::Ok => Ok(()),
            Outcome::NotFound(_) => Err(RouteWriteError::NotFound),
            o => Err(RouteWriteError::Internal(format!("{o:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hub_specs_round_trip() {
        for spec in ["/user/alice/", "/user/a%20b/", "/services/x/", "/"] {
            let canonical = rafthub_proxy::canonical_spec(spec);
            assert_eq!(super::hub_spec(&canonical), spec, "{spec} via {canonical}");
        }
    }
}
