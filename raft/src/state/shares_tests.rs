//! Pure apply tests of sharing: grants merge, revokes subtract, cascades follow the rows, the
//! recipient-side indexes always match the rows (and are rebuilt identically on load).

use super::*;
use crate::command::*;

const T0: Ts = 1_700_000_000_000_000;

#[track_caller]
fn run(s: &mut HubState, now: Ts, cmds: Vec<Command>) -> Vec<Outcome> {
    let mut dirty = Dirty::new();
    cmds.into_iter()
        .map(|c| {
            let p = Proposal {
                id: rand::random(),
                now,
                cmd: c,
            };
            let out = s.apply(&p, &mut dirty);
            s.assert_indexes_match_tables();
            out
        })
        .collect()
}

fn setup() -> HubState {
    let mut s = HubState::default();
    let new = |n: &str| NewUser {
        name: n.into(),
        admin: false,
        cookie_id: format!("c-{n}"),
    };
    let out = run(
        &mut s,
        T0,
        vec![
            Command::CreateUsers {
                users: vec![new("alice"), new("bob"), new("carol")],
                skip_existing_ok: false,
            },
            Command::CreateGroups {
                names: vec!["team".into()],
                users: vec!["carol".into()],
            },
            Command::PutServer {
                user: "alice".into(),
                server: "lab".into(),
                display_name: None,
                user_options: serde_json::json!({}),
                limit: None,
            },
        ],
    );
    assert!(out.iter().all(Outcome::is_ok), "{out:?}");
    s
}

fn grant(owner: &str, server: &str, with: ShareTarget, scopes: &[&str]) -> Command {
    Command::GrantShare {
        owner: owner.into(),
        server: server.into(),
        with,
        scopes: scopes.iter().map(|x| x.to_string()).collect(),
    }
}

fn user(n: &str) -> ShareTarget {
    ShareTarget::User(n.into())
}

/// Every `(recipient, owner/server, scopes)` of the state, read from the rows.
fn shares(s: &HubState) -> Vec<(ShareWith, String, Vec<String>)> {
    let mut v = Vec::new();
    for u in s.users() {
        for (name, _) in u.servers.iter() {
            for sh in s.shares_of(u.id, name) {
                v.push((sh.with, format!("{}/{name}", u.name), sh.scopes.clone()));
            }
        }
    }
    v
}

/// The recipient-side index agrees with the rows, and a reload rebuilds the same.
#[track_caller]
fn assert_index(s: &HubState) {
    for (with, server, _) in shares(s) {
        let found = s
            .servers_shared_with(with)
            .any(|(o, n)| format!("{}/{n}", s.user_by_id(o).unwrap().name) == server);
        assert!(found, "{with:?} -> {server} missing from the index");
    }
    let indexed: usize = s.shared_with.values().map(BTreeSet::len).sum();
    let distinct: BTreeSet<(ShareWith, String)> =
        shares(s).into_iter().map(|(w, o, _)| (w, o)).collect();
    assert_eq!(
        indexed,
        distinct.len(),
        "stale index entries: {:?}",
        s.shared_with
    );
    let back = HubState::from_rows(s.all_rows()).expect("decode");
    assert_eq!(back.shared_with, s.shared_with);
    assert_eq!(back.share_codes_by_prefix, s.share_codes_by_prefix);
}

#[test]
fn grants_merge_revokes_subtract_and_an_emptied_share_goes() {
    let mut s = setup();
    let (bob, team) = (ShareWith::User(2), ShareWith::Group(1));
    let out = run(
        &mut s,
        T0 + 1,
        vec![
            grant("alice", "", user("bob"), &["access:servers"]),
            grant(
                "alice",
                "",
                user("bob"),
                &["read:servers", "access:servers"],
            ),
            grant(
                "alice",
                "lab",
                ShareTarget::Group("team".into()),
                &["access:servers"],
            ),
            grant("alice", "nope", user("bob"), &["access:servers"]),
            grant("alice", "", user("zed"), &["access:servers"]),
            grant(
                "alice",
                "",
                ShareTarget::Group("zed".into()),
                &["access:servers"],
            ),
        ],
    );
    assert_eq!(
        out,
        vec![
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Ok,
            Outcome::NotFound("No such server: alice/nope".into()),
            Outcome::Invalid("No such user: zed".into()),
            Outcome::Invalid("No such group: zed".into()),
        ]
    );
    let both = vec!["access:servers".to_string(), "read:servers".to_string()];
    assert_eq!(
        shares(&s),
        vec![
            (bob, "alice/".into(), both.clone()),
            (team, "alice/lab".into(), vec!["access:servers".into()]),
        ]
    );
    // A merge keeps the share's id and creation time.
    let first = s.shares_of(1, "")[0].clone();
    assert_eq!((first.id, first.created_at), (1, T0 + 1));
    assert_index(&s);

    let revoke = |scopes: Option<&[&str]>| Command::RevokeShare {
        owner: "alice".into(),
        server: String::new(),
        with: user("bob"),
        scopes: scopes.map(|v| v.iter().map(|x| x.to_string()).collect()),
    };
    assert_eq!(
        run(&mut s, T0 + 2, vec![revoke(Some(&["read:servers", "x"]))]),
        vec![Outcome::Ok]
    );
    assert_eq!(
        s.shares_of(1, "")[0].scopes,
        vec!["access:servers".to_string()]
    );
    assert_eq!(
        run(&mut s, T0 + 2, vec![revoke(Some(&["access:servers"]))]),
        vec![Outcome::Ok]
    );
    assert!(s.shares_of(1, "").is_empty());
    assert!(
        s.user("alice").unwrap().servers[""].sharing.is_none(),
        "row as before sharing"
    );
    assert_eq!(s.servers_shared_with(bob).count(), 0);
    // Revoking what is not there is fine (upstream answers `{}`).
    assert_eq!(run(&mut s, T0 + 3, vec![revoke(None)]), vec![Outcome::Ok]);
    assert_index(&s);
}

#[test]
fn shares_go_with_their_server_owner_recipient_or_group() {
    let mut s = setup();
    let team = ShareTarget::Group("team".into());
    run(
        &mut s,
        T0,
        vec![
            grant("alice", "", user("bob"), &["access:servers"]),
            grant("alice", "", user("carol"), &["access:servers"]),
            grant("alice", "lab", team.clone(), &["access:servers"]),
            grant("bob", "", user("alice"), &["access:servers"]),
            grant("bob", "", team, &["access:servers"]),
        ],
    );
    assert_eq!(shares(&s).len(), 5);
    // A stopped server keeps its shares; a removed one loses them.
    let stop = |remove| Command::RequestStop {
        user: "alice".into(),
        server: "lab".into(),
        remove,
    };
    run(&mut s, T0, vec![stop(false)]);
    assert_eq!(shares(&s).len(), 5);
    run(&mut s, T0, vec![stop(true)]);
    assert_eq!(shares(&s).len(), 4);
    assert_index(&s);
    // Deleting a recipient group or user removes what was granted to it.
    run(
        &mut s,
        T0,
        vec![Command::DeleteGroup {
            name: "team".into(),
        }],
    );
    assert_eq!(shares(&s).len(), 3);
    run(
        &mut s,
        T0,
        vec![Command::DeleteUser {
            name: "carol".into(),
        }],
    );
    assert_eq!(shares(&s).len(), 2);
    assert_index(&s);
    // Deleting an owner removes its servers' shares, and what was shared with it.
    run(
        &mut s,
        T0,
        vec![Command::DeleteUser {
            name: "alice".into(),
        }],
    );
    assert_eq!(shares(&s), vec![]);
    assert!(s.shared_with.is_empty() && s.sharing_owners.is_empty());
    assert_index(&s);
}

#[test]
fn share_codes_are_used_until_they_expire_and_then_purged() {
    let mut s = setup();
    let code = |prefix: &str, expires_at| ShareCode {
        id: 0,
        prefix: prefix.into(),
        hash: format!("hash-{prefix}"),
        scopes: vec!["read:servers".into(), "access:servers".into()],
        created_at: T0,
        expires_at,
        exchange_count: 0,
        last_exchanged_at: None,
    };
    let create = |c| Command::CreateShareCode {
        owner: "alice".into(),
        server: String::new(),
        code: c,
    };
    let out = run(
        &mut s,
        T0,
        vec![
            create(code("abcd", T0 + 100)),
            create(code("wxyz", T0 + 10)),
        ],
    );
    assert_eq!(
        out,
        vec![Outcome::Created(vec![1]), Outcome::Created(vec![2])]
    );
    let found: Vec<u64> = s
        .share_codes_with_prefix("abcd")
        .map(|(_, _, c)| c.id)
        .collect();
    assert_eq!(found, vec![1]);
    assert_eq!(
        s.share_codes_of(1, "")[0].scopes,
        ["access:servers", "read:servers"]
    );

    let exchange = |id, user: &str| Command::ExchangeShareCode {
        owner: "alice".into(),
        server: String::new(),
        id,
        user: user.into(),
    };
    let out = run(
        &mut s,
        T0 + 50,
        vec![
            exchange(1, "bob"),
            exchange(1, "bob"),
            exchange(1, "alice"),
            exchange(2, "bob"),
        ],
    );
    assert_eq!(
        out,
        vec![
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Invalid("You can't share with yourself!".into()),
            Outcome::NotFound("Share not found or expired".into()),
        ]
    );
    let c = &s.share_codes_of(1, "")[0];
    assert_eq!((c.exchange_count, c.last_exchanged_at), (2, Some(T0 + 50)));
    assert_eq!(
        shares(&s),
        vec![(
            ShareWith::User(2),
            "alice/".into(),
            vec!["access:servers".into(), "read:servers".into()]
        )]
    );
    assert_index(&s);
    // The purge drops the expired code only; deleting codes leaves the shares they made.
    run(&mut s, T0 + 50, vec![Command::PurgeExpired]);
    assert_eq!(
        s.share_codes_of(1, "")
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(s.share_codes_with_prefix("wxyz").count(), 0);
    let del = |id| Command::DeleteShareCodes {
        owner: "alice".into(),
        server: String::new(),
        id,
    };
    let out = run(&mut s, T0 + 60, vec![del(Some(9)), del(None)]);
    assert_eq!(
        out,
        vec![
            Outcome::NotFound("No code found matching id=sc_9".into()),
            Outcome::Ok
        ]
    );
    assert!(s.share_codes_of(1, "").is_empty());
    assert_eq!(shares(&s).len(), 1);
    assert_index(&s);
}
