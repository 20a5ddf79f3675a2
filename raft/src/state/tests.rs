//! Pure apply tests: build a state, apply proposals, assert outcomes and rows exactly.

use serde_json::json;

use super::*;
use crate::command::*;

const T0: Ts = 1_700_000_000_000_000;

fn prop(id: u128, now: Ts, cmd: Command) -> Proposal {
    Proposal { id, now, cmd }
}

/// Applies commands with fresh request ids; returns their outcomes.
#[track_caller]
fn run(s: &mut HubState, cmds: Vec<Command>) -> Vec<Outcome> {
    let mut dirty = Dirty::new();
    cmds.into_iter()
        .enumerate()
        .map(|(i, c)| {
            let id = rand::random::<u128>();
            let out = s.apply(&prop(id, T0 + i as Ts, c), &mut dirty);
            s.assert_indexes_match_tables();
            out
        })
        .collect()
}

fn users(names: &[&str]) -> Command {
    Command::CreateUsers {
        users: names
            .iter()
            .map(|n| NewUser {
                name: n.to_string(),
                admin: false,
                cookie_id: format!("c-{n}"),
            })
            .collect(),
        skip_existing_ok: false,
    }
}

fn token(owner: Owner, prefix: &str, session: Option<&str>) -> Command {
    Command::CreateToken {
        token: Token {
            id: 0,
            prefix: prefix.into(),
            hash: TokenHash::Sha256(format!("h-{prefix}")),
            owner,
            scopes: vec!["inherit".into()],
            note: String::new(),
            created: T0,
            last_activity: None,
            expires_at: None,
            session_id: session.map(String::from),
            client_id: "jupyterhub".into(),
        },
    }
}

#[test]
fn create_users_skips_existing_and_conflicts_when_all_exist() {
    let mut s = HubState::default();
    let out = run(
        &mut s,
        vec![
            users(&["alice", "bob"]),
            users(&["bob", "carol"]),
            users(&["alice"]),
        ],
    );
    assert_eq!(
        out,
        vec![
            Outcome::Created(vec![1, 2]),
            Outcome::Created(vec![3]),
            Outcome::Conflict("All 1 users already exist".into())
        ]
    );
    assert_eq!(s.user("carol").map(|u| u.id), Some(3));
}

#[test]
fn retried_request_id_returns_first_outcome_without_reapplying() {
    let mut s = HubState::default();
    let mut dirty = Dirty::new();
    let p = prop(42, T0, users(&["alice"]));
    assert_eq!(s.apply(&p, &mut dirty), Outcome::Created(vec![1]));
    // The same id again (a retry after failover) answers 201's outcome, not 409.
    assert_eq!(s.apply(&p, &mut dirty), Outcome::Created(vec![1]));
    assert_eq!(s.user_count(), 1);
    // A new id with the same command is a real second create: conflict.
    assert!(matches!(
        s.apply(&prop(43, T0, users(&["alice"])), &mut dirty),
        Outcome::Conflict(_)
    ));
}

#[test]
fn dedup_forgets_ids_outside_the_window_deterministically() {
    let mut s = HubState::default();
    let mut dirty = Dirty::new();
    // Fills bucket 0 and puts one id in bucket 1.
    let n = dedup::BUCKET + 1;
    for i in 0..n {
        s.apply(
            &prop(i as u128 + 1, T0, users(&[&format!("u{i}")])),
            &mut dirty,
        );
    }
    let buckets: Vec<&Key> = dirty
        .iter()
        .filter(|k| matches!(k, Key::Dedup(_)))
        .collect();
    assert_eq!(buckets, vec![&Key::Dedup(0), &Key::Dedup(1)]);
    let mut dirty = Dirty::new();
    s.apply(
        &prop(1000, T0 + dedup::WINDOW_US + 1, users(&["late"])),
        &mut dirty,
    );
    assert!(s.dedup.get(1).is_none());
    assert!(s.dedup.get(n as u128).is_none());
    assert!(s.dedup.get(1000).is_some());
    // Bucket 0 emptied: its row is removed. Bucket 1 now holds only the new id.
    assert!(dirty.contains(&Key::Dedup(0)) && dirty.contains(&Key::Dedup(1)));
    assert_eq!(s.encode_row(&Key::Dedup(0)), None);
    let row = s.encode_row(&Key::Dedup(1)).expect("bucket 1 row");
    let b: dedup::DedupBucket = rmp_serde::from_slice(&row).expect("decode bucket");
    let ids: Vec<u128> = b.entries.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![1000]);
}

#[test]
fn per_id_dedup_rows_of_the_old_layout_load_and_ask_for_a_rewrite() {
    let mut s = HubState::default();
    run(&mut s, vec![users(&["a"]), users(&["b"])]);
    let mut rows: Vec<(Vec<u8>, Vec<u8>)> = s
        .all_rows()
        .into_iter()
        .filter(|(k, _)| k[0] != b'd')
        .collect();
    assert!(!s.rows_need_rewrite());
    let mut ids = Vec::new();
    for b in s.dedup.buckets().collect::<Vec<_>>() {
        for (id, e) in s.dedup.bucket(b).expect("bucket").entries {
            let mut k = vec![b'd'];
            k.extend_from_slice(&id.to_be_bytes());
            rows.push((k, image::encode(&e)));
            ids.push(id);
        }
    }
    assert_eq!(ids.len(), 2);
    let back = HubState::from_rows(rows).expect("decode old rows");
    assert!(back.rows_need_rewrite());
    for id in ids {
        assert_eq!(back.dedup.get(id), s.dedup.get(id));
    }
    assert_eq!(back.all_rows(), s.all_rows());
}

#[test]
fn delete_user_cascades_to_tokens_groups_and_routes() {
    let mut s = HubState::default();
    run(&mut s, vec![users(&["alice", "bob"])]);
    run(
        &mut s,
        vec![
            Command::CreateGroups {
                names: vec!["g".into()],
                users: vec!["alice".into(), "bob".into()],
            },
            token(Owner::User(1), "abcd", None),
            token(Owner::User(2), "abcd", None),
        ],
    );
    assert_eq!(s.tokens_with_prefix("abcd").count(), 2);
    assert_eq!(
        run(
            &mut s,
            vec![Command::DeleteUser {
                name: "alice".into()
            }]
        ),
        vec![Outcome::Ok]
    );
    assert_eq!(
        s.tokens_with_prefix("abcd")
            .map(|t| t.owner.clone())
            .collect::<Vec<_>>(),
        vec![Owner::User(2)]
    );
    assert_eq!(
        s.group("g")
            .map(|g| g.users.iter().copied().collect::<Vec<_>>()),
        Some(vec![2])
    );
    assert_eq!(s.user_group_names(1), Vec::<String>::new());
}

#[test]
fn rename_keeps_references_by_id() {
    let mut s = HubState::default();
    run(
        &mut s,
        vec![
            users(&["alice", "bob"]),
            token(Owner::User(1), "tttt", None),
        ],
    );
    let patch = |n: &str| Command::UpdateUser {
        name: "alice".into(),
        patch: UserPatch {
            name: Some(n.into()),
            ..Default::default()
        },
    };
    assert!(matches!(
        run(&mut s, vec![patch("bob")])[0],
        Outcome::Conflict(_)
    ));
    assert_eq!(run(&mut s, vec![patch("alicia")]), vec![Outcome::Ok]);
    assert!(s.user("alice").is_none());
    assert_eq!(s.user("alicia").map(|u| u.id), Some(1));
    assert_eq!(
        s.tokens_with_prefix("tttt").next().map(|t| &t.owner),
        Some(&Owner::User(1))
    );
}

#[test]
fn activity_is_max_merged_and_ignores_unknowns() {
    let mut s = HubState::default();
    run(&mut s, vec![users(&["alice"])]);
    let act = |ts: Ts| Command::RecordActivity {
        items: vec![
            ActivityItem {
                user_id: 1,
                server: Some(String::new()),
                ts,
            },
            ActivityItem {
                user_id: 99,
                server: None,
                ts,
            },
        ],
        tokens: vec![],
    };
    run(&mut s, vec![act(T0 + 50), act(T0 + 10)]);
    assert_eq!(s.user("alice").and_then(|u| u.last_activity), Some(T0 + 50));
}

#[test]
fn spawn_admission_is_cluster_wide_and_generation_guards_stale_commands() {
    let mut s = HubState::default();
    run(&mut s, vec![users(&["a", "b", "c"])]);
    let spawn = |u: &str| Command::RequestSpawn {
        user: u.into(),
        server: String::new(),
        user_options: None,
        display_name: None,
        concurrent_spawn_limit: 2,
        active_server_limit: 0,
        named_server_limit: None,
    };
    let out = run(&mut s, vec![spawn("a"), spawn("b"), spawn("c"), spawn("a")]);
    assert_eq!(out[0], Outcome::Created(vec![1]));
    assert_eq!(out[1], Outcome::Created(vec![1]));
    assert!(matches!(&out[2], Outcome::TooMany { retry: true, .. }));
    assert!(matches!(&out[3], Outcome::AlreadyPending(_)));
    let route = Route {
        routespec: "/user/a/".into(),
        target: "http://127.0.0.1:9".into(),
        data: json!({"user": "a", "server_name": ""}).into(),
    };
    let ready = |g: u64| Command::ServerReady {
        user: "a".into(),
        server: String::new(),
        generation: g,
        target: "http://127.0.0.1:9".into(),
        route: route.clone(),
    };
    assert!(matches!(
        run(&mut s, vec![ready(7)])[0],
        Outcome::Conflict(_)
    ));
    assert_eq!(run(&mut s, vec![ready(1)]), vec![Outcome::Ok]);
    assert!(s.route("/user/a/").is_some());
    assert_eq!(s.pending_spawns(), 1);
    // Stop removes the route at once, before the process is gone.
    let out = run(
        &mut s,
        vec![Command::RequestStop {
            user: "a".into(),
            server: String::new(),
            remove: false,
        }],
    );
    assert_eq!(out, vec![Outcome::Created(vec![1])]);
    assert!(s.route("/user/a/").is_none());
    assert_eq!(s.user("a").unwrap().servers[""].pending(), Some("stop"));
    // The index of active servers follows every change and is rebuilt identically on load.
    let active = |s: &HubState| {
        let mut v: Vec<(String, String)> = s
            .active_server_list()
            .map(|(u, sv)| (u.name.clone(), sv.name.clone()))
            .collect();
        v.sort();
        v
    };
    let pair = |u: &str| (u.to_string(), String::new());
    assert_eq!(active(&s), vec![pair("a"), pair("b")]);
    assert_eq!(s.active_servers(), 2);
    let back = HubState::from_rows(s.all_rows()).expect("decode rows");
    assert_eq!(active(&back), active(&s));
    run(&mut s, vec![Command::DeleteUser { name: "b".into() }]);
    assert_eq!(active(&s), vec![pair("a")]);
    assert_eq!(s.pending_spawns(), 0);
}

#[test]
fn oauth_code_is_single_use() {
    let mut s = HubState::default();
    run(&mut s, vec![users(&["alice"])]);
    let client = OAuthClient {
        id: "jupyterhub-user-alice".into(),
        kind: ClientKind::Server {
            user: "alice".into(),
            server: String::new(),
        },
        description: "Server at /user/alice/".into(),
        secret_hash: None,
        redirect_uri: "/user/alice/oauth_callback".into(),
        allowed_scopes: vec![],
    };
    let code = OAuthCode {
        code_hash: "ch".into(),
        client_id: client.id.clone(),
        user_id: 1,
        scopes: vec![],
        session_id: "s".into(),
        redirect_uri: client.redirect_uri.clone(),
        code_challenge: None,
        code_challenge_method: None,
        expires_at: T0 + 300_000_000,
    };
    let Command::CreateToken { token: tok } = token(Owner::User(1), "oaut", Some("s")) else {
        unreachable!()
    };
    let exchange = Command::ExchangeOAuthCode {
        code_hash: "ch".into(),
        token: tok,
    };
    let out = run(
        &mut s,
        vec![
            Command::PutOAuthClient { client },
            Command::CreateOAuthCode { code },
            exchange.clone(),
            exchange,
        ],
    );
    assert_eq!(out[2], Outcome::Created(vec![1]));
    assert_eq!(out[3], Outcome::NotFound("invalid_grant".into()));
    // Logout revokes the session's tokens.
    run(
        &mut s,
        vec![Command::RevokeSession {
            session_id: "s".into(),
        }],
    );
    assert_eq!(s.token_count(), 0);
}

#[test]
fn rows_round_trip_through_persistence() {
    let mut s = HubState::default();
    run(
        &mut s,
        vec![
            users(&["alice", "bob"]),
            token(Owner::User(2), "wxyz", None),
        ],
    );
    run(
        &mut s,
        vec![Command::CreateGroups {
            names: vec!["g".into()],
            users: vec!["bob".into()],
        }],
    );
    let back = HubState::from_rows(s.all_rows()).expect("decode rows");
    assert_eq!(back.all_rows(), s.all_rows());
    // A snapshot encodes the persisted copy: it must hold every row.
    assert_eq!(s.persisted_copy().all_rows(), s.all_rows());
    assert_eq!(back.user_group_names(2), vec!["g".to_string()]);
    assert_eq!(back.tokens_with_prefix("wxyz").count(), 1);
    let image = Image::of(&s);
    let bytes = encode(&image);
    let decoded: Image = rmp_serde::from_slice(&bytes).expect("decode image");
    assert_eq!(
        decoded.into_state().expect("state").all_rows(),
        s.all_rows()
    );
    // The streamed image holds the same rows, readable by both decoders.
    let mut streamed = std::io::Cursor::new(b"prefix".to_vec());
    streamed.set_position(6);
    let n = s.write_image(&mut streamed).expect("write image");
    let streamed = &streamed.get_ref()[6..];
    assert_eq!(n as usize, s.all_rows().len());
    let owned: Image = rmp_serde::from_slice(streamed).expect("decode streamed image");
    assert_eq!(owned.rows, image.rows);
    let borrowed = ImageRef::decode(streamed).expect("decode streamed image, borrowed");
    assert_eq!(
        borrowed.into_state().expect("state").all_rows(),
        s.all_rows()
    );
}

use image::encode;
