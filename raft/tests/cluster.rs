//! In-process cluster behaviour: elections, failover, partitions, restarts, catch-up.

mod support;

use std::time::Duration;

use rafthub_raft::node::WriteError;
use support::{assert_created, create_user, TestCluster};

const T: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_write_via_any_replica_is_visible_on_every_replica() {
    let c = TestCluster::start(3).await;
    let leader = c.wait_leader(&[0, 1, 2], T).await;
    for i in 0..3 {
        let o = c
            .node(i)
            .write(create_user(&format!("u{i}")))
            .await
            .expect("write");
        assert_created(&o);
        // Read your own write: the answering replica already has it.
        assert!(c.node(i).state().user(&format!("u{i}")).is_some());
    }
    c.wait_applied_all(c.max_applied(), T).await;
    for i in 0..3 {
        assert_eq!(c.node(i).state().user_count(), 3, "node {}", i + 1);
    }
    // The first leader proposes the cluster settings (cookie secret) once, shortly after election.
    let deadline = tokio::time::Instant::now() + T;
    while c.node(leader).state().cluster_config().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "leader proposed the cluster config"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_retried_request_id_applies_once_across_replicas() {
    let c = TestCluster::start(3).await;
    c.wait_leader(&[0, 1, 2], T).await;
    let id = 7_777u128;
    let a = c
        .node(0)
        .write_with_id(id, create_user("alice"))
        .await
        .expect("first");
    let b = c
        .node(2)
        .write_with_id(id, create_user("alice"))
        .await
        .expect("retry");
    assert_eq!(a, b, "a retry answers the first outcome, not a conflict");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t12_a_write_is_confirmed_on_every_reachable_replica_within_the_wait() {
    let c = TestCluster::start(3).await;
    let leader = c.wait_leader(&[0, 1, 2], T).await;
    let follower = (leader + 1) % 3;
    c.node(follower)
        .write(create_user("everywhere"))
        .await
        .expect("write");
    let index = c.node(follower).applied().borrow().index;
    assert_eq!(c.node(follower).wait_applied_everywhere(index, T).await, 2);
    for i in 0..3 {
        assert!(
            c.node(i).state().user("everywhere").is_some(),
            "node {}",
            i + 1
        );
    }

    // One follower cut off: the other is confirmed, the lost one is given up on in time.
    let lost = (leader + 2) % 3;
    c.partition(&[&[leader, follower], &[lost]]);
    c.node(leader)
        .write(create_user("majority-only"))
        .await
        .expect("write");
    let index = c.node(leader).applied().borrow().index;
    let started = tokio::time::Instant::now();
    let wait = Duration::from_secs(1);
    assert_eq!(c.node(leader).wait_applied_everywhere(index, wait).await, 1);
    assert!(
        started.elapsed() < wait + Duration::from_millis(300),
        "bounded by the wait: {:?}",
        started.elapsed()
    );
    assert!(c.node(follower).state().user("majority-only").is_some());
    c.heal();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t20_leader_loss_elects_a_new_leader_that_accepts_writes() {
    for n in [3usize, 5] {
        let mut c = TestCluster::start(n).await;
        let all: Vec<usize> = (0..n).collect();
        let leader = c.wait_leader(&all, T).await;
        assert_created(
            &c.node(leader)
                .write(create_user("before"))
                .await
                .expect("write"),
        );
        c.kill(leader).await;
        let rest: Vec<usize> = all.iter().copied().filter(|i| *i != leader).collect();
        let started = tokio::time::Instant::now();
        let new_leader = c.wait_leader(&rest, T).await;
        assert_ne!(new_leader, leader);
        let via = rest[0];
        assert_created(
            &c.node(via)
                .write(create_user("after"))
                .await
                .expect("write after failover"),
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(c.node(via).state().user("before").is_some());
        c.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t21_after_a_leader_crash_a_follower_stands_once_the_lease_is_over() {
    // Election timeout 1,000-1,200 ms: openraft's timers alone stand a follower after the
    // lease (1,200 ms since the leader's last message) plus at least 1,000 ms more. The
    // follower with the longest log (the lowest id on a tie) stands once the lease and one
    // heartbeat are over (`prompt_elect`).
    let (min, max, hb) = (1000, 1200, 100);
    for round in 0..2 {
        let mut c = TestCluster::start_timed(3, (min, max, hb)).await;
        let leader = c.wait_leader(&[0, 1, 2], T).await;
        assert_created(
            &c.node(leader)
                .write(create_user(&format!("before-{round}")))
                .await
                .expect("write"),
        );
        c.wait_applied_all(c.max_applied(), T).await;
        let rest: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        c.kill(leader).await;
        let started = tokio::time::Instant::now();
        let new_leader = c.wait_leader(&rest, T).await;
        let took = started.elapsed();
        assert_eq!(new_leader, rest[0], "equal logs: the lower id stands");
        assert!(
            took < Duration::from_millis(max + min / 2 + 2 * hb),
            "a new leader after {took:?}; openraft's timers alone need over {}ms",
            max + min - hb
        );
        c.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t30_minority_cannot_commit_and_healed_partition_converges() {
    let c = TestCluster::start(5).await;
    let all = [0usize, 1, 2, 3, 4];
    let leader = c.wait_leader(&all, T).await;
    // The old leader and one follower on one side, three nodes on the other.
    let buddy = (leader + 1) % 5;
    let minority = [leader, buddy];
    let majority: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| !minority.contains(i))
        .collect();
    c.partition(&[&minority, &majority]);

    let new_leader = c.wait_leader(&majority, T).await;
    assert!(majority.contains(&new_leader));
    assert_created(
        &c.node(majority[0])
            .write(create_user("majority"))
            .await
            .expect("majority write"),
    );

    // Neither minority node can commit: the write fails (no leader, or unknown outcome).
    for i in minority {
        let r = c.node(i).write(create_user(&format!("minority{i}"))).await;
        assert!(
            matches!(
                r,
                Err(WriteError::NoLeader { .. } | WriteError::Timeout { .. })
            ),
            "minority write via node {} must fail, got {r:?}",
            i + 1
        );
    }

    c.heal();
    let l = c.wait_leader(&all, T).await;
    assert!(
        majority.contains(&l),
        "a minority node must not win after heal"
    );
    assert_created(
        &c.node(buddy)
            .write(create_user("after-heal"))
            .await
            .expect("write after heal"),
    );
    c.wait_applied_all(c.max_applied(), T).await;
    for i in all {
        let s = c.node(i).state();
        assert!(
            s.user("majority").is_some() && s.user("after-heal").is_some(),
            "node {}",
            i + 1
        );
        assert!(s.user("minority0").is_none() && s.user(&format!("minority{leader}")).is_none());
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t31_isolated_node_answers_no_leader_quickly() {
    let c = TestCluster::start(3).await;
    let leader = c.wait_leader(&[0, 1, 2], T).await;
    let lone = (leader + 1) % 3;
    let others: Vec<usize> = (0..3).filter(|i| *i != lone).collect();
    c.partition(&[&[lone], &others]);
    // Writes wait through an election first (a few election timeouts without a leader).
    let waited = tokio::time::Instant::now();
    while c.node(lone).leaderless_for_writes().is_none() {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "never gave up on a leader"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = tokio::time::Instant::now();
    let r = c.node(lone).write(create_user("x")).await;
    assert!(matches!(r, Err(WriteError::NoLeader { .. })), "got {r:?}");
    // NoLeader (not a 5 s write timeout): answered without waiting for the cluster.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "503 must not wait for a timeout"
    );
    c.heal();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t40_full_cluster_restart_keeps_every_acknowledged_write() {
    let mut c = TestCluster::start(3).await;
    c.wait_leader(&[0, 1, 2], T).await;
    let mut acked = Vec::new();
    for i in 0..60 {
        let name = format!("user{i}");
        if let Ok(o) = c.node(i % 3).write(create_user(&name)).await {
            assert_created(&o);
            acked.push(name);
        }
    }
    assert_eq!(acked.len(), 60);
    for i in 0..3 {
        c.kill(i).await;
    }
    for i in 0..3 {
        c.restart(i).await;
    }
    c.wait_leader(&[0, 1, 2], T).await;
    // A linearizable barrier on each node, then every acknowledged user must be there.
    for i in 0..3 {
        c.node(i).linearizable_barrier(T).await.expect("barrier");
        let s = c.node(i).state();
        for name in &acked {
            assert!(s.user(name).is_some(), "node {} lost {name}", i + 1);
        }
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t41_far_behind_follower_catches_up_by_snapshot() {
    let mut c = TestCluster::start_with(3, 50).await;
    let leader = c.wait_leader(&[0, 1, 2], T).await;
    let lagger = (leader + 1) % 3;
    c.kill(lagger).await;
    let live: Vec<usize> = (0..3).filter(|i| *i != lagger).collect();
    for i in 0..400 {
        c.node(live[i % 2])
            .write(create_user(&format!("bulk{i}")))
            .await
            .expect("write");
    }
    // The leader has snapshotted and purged the log the lagger would need (snapshots are
    // built in the background: in a release build the writes can finish first).
    let mut metrics = c.node(leader).raft().metrics();
    let purged = tokio::time::timeout(T, metrics.wait_for(|m| m.purged.is_some())).await;
    assert!(
        purged.is_ok(),
        "leader should have purged logs after snapshots"
    );
    drop(purged);
    c.restart(lagger).await;
    c.wait_applied_all(c.max_applied(), Duration::from_secs(20))
        .await;
    let m = c.node(lagger).raft().metrics().borrow().clone();
    assert!(
        m.snapshot.is_some(),
        "the lagger must have installed a snapshot"
    );
    assert_eq!(c.node(lagger).state().user_count(), 400);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t50_linearizable_read_on_a_follower_sees_a_write_made_elsewhere() {
    let c = TestCluster::start(3).await;
    let leader = c.wait_leader(&[0, 1, 2], T).await;
    let f1 = (leader + 1) % 3;
    let f2 = (leader + 2) % 3;
    // Slow f2's replication down by cutting leader->f2; the barrier must still see the write.
    c.faults
        .cut_one_way(&c.nodes[leader].addr, &c.nodes[f2].addr);
    assert_created(&c.node(f1).write(create_user("lin")).await.expect("write"));
    c.heal();
    c.node(f2).linearizable_barrier(T).await.expect("barrier");
    assert!(c.node(f2).state().user("lin").is_some());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t60_new_node_joins_as_learner_then_voter_and_can_be_removed() {
    let mut c = TestCluster::start(3).await;
    let leader = c.wait_leader(&[0, 1, 2], T).await;
    for i in 0..20 {
        c.node(leader)
            .write(create_user(&format!("pre{i}")))
            .await
            .expect("write");
    }
    let newbie = c.add_node().await;
    let id = c.nodes[newbie].id;
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let voters: Vec<u64> = c.node(leader).status().await.voters;
        if voters.contains(&id) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {id} never became a voter: {voters:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.wait_applied_all(c.max_applied(), T).await;
    assert_eq!(c.node(newbie).state().user_count(), 20);
    // Remove it again, through a follower (forwarded to the leader).
    let follower = (leader + 1) % 3;
    c.node(follower).remove_member(id).await.expect("remove");
    let st = c.node(leader).status().await;
    assert!(
        !st.voters.contains(&id) && !st.learners.contains(&id),
        "{st:?}"
    );
    assert!(
        c.node(leader).remove_member(id).await.is_err(),
        "removing a non-member is an error"
    );
    c.shutdown().await;
}
