//! Faults: Redis killed while serving and started again on the same data
//! (append-only, fsynced per write), a replica down while entries are
//! added, a replica started after all of it. Nothing accepted is lost and no
//! revoked token is ever allowed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;

const REDIS_UP: &str = "gatehouse_revocation_redis_up";

/// Polls a replica until `gatehouse_revocation_redis_up` is `up`.
async fn wait_redis_up(gatehouse: &Gatehouse, up: bool) {
    ops::wait_metric_eq(gatehouse.http, REDIS_UP, if up { 1.0 } else { 0.0 }, Duration::from_secs(15)).await;
}

/// Checks `revoked` over and over until stopped; counts the allows.
struct Watcher {
    stop: Arc<AtomicBool>,
    checks: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<usize>,
}

impl Watcher {
    fn start(mut checker: Checker, revoked: String) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let checks = Arc::new(AtomicUsize::new(0));
        let (stopped, counted) = (stop.clone(), checks.clone());
        let task = tokio::spawn(async move {
            let mut wrong_allows = 0;
            while !stopped.load(Ordering::SeqCst) {
                if status_of(&mut checker, &revoked).await != 401 {
                    wrong_allows += 1;
                }
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            wrong_allows
        });
        Watcher { stop, checks, task }
    }

    async fn wrong_allows(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let wrong = self.task.await.unwrap();
        (wrong, self.checks.load(Ordering::SeqCst))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_and_back_loses_no_revocation_and_allows_no_revoked_token() {
    let mut redis = Redis::start();
    let Pair { mut a, mut b, key, _dir: dir } = Pair::start(&redis).await;
    let admin = Admin::of(&a);
    let token = |jti: &str| fresh_token(&key, json!({ "jti": jti }));
    let (first, refused, while_b_down, innocent) =
        (token("first"), token("refused"), token("while-b-down"), token("innocent"));
    let late_sub = fresh_token(&key, json!({ "sub": "mallory", "iat": unix_now() - 5 }));
    assert_eq!(admin.revoke(json!({ "issuer": ISSUER, "jti": "first" })).await.0, 201);
    until_denied(&mut b.checker, &first, Duration::from_secs(2)).await;
    let watcher = Watcher::start(a.checker.clone(), first.clone());

    // Redis dies: answers come from memory, a new revocation is refused with 503.
    redis.kill();
    wait_redis_up(&a, false).await;
    wait_redis_up(&b, false).await;
    for (name, replica) in [("a", &mut a), ("b", &mut b)] {
        assert_revoked(&replica.check_token(&first).await, name);
        assert_eq!(status_of(&mut replica.checker, &innocent).await, 0, "{name}");
    }
    let (status, answer) = admin.revoke(json!({ "issuer": ISSUER, "jti": "refused" })).await;
    assert_eq!(status, 503, "Redis cannot take it: {answer}");
    assert!(admin.list().await.iter().all(|e| e["jti"] != "refused"), "not claimed in memory either");
    assert_eq!(status_of(&mut a.checker, &refused).await, 0, "a refused revocation revokes nothing");
    let (readyz, body) = a.http_get("/readyz").await;
    assert_eq!(readyz, 200, "memory still answers: {body}");

    // Replica B goes down; Redis comes back on the same data; entries are added.
    b.stop().await;
    redis.restart();
    wait_redis_up(&a, true).await;
    let (status, answer) = admin.revoke(json!({ "issuer": ISSUER, "jti": "while-b-down" })).await;
    assert_eq!(status, 201, "the first write after Redis came back: {answer}");
    assert_eq!(admin.revoke(json!({ "issuer": ISSUER, "sub": "mallory" })).await.0, 201);
    assert_eq!(redis.stream_len(STREAM), 3, "the append-only file kept the entry from before");

    // B again, on the same config, and a replica that never ran before.
    let mut restarted = replica(&key, &redis, dir.path()).await;
    let mut late = replica(&key, &redis, dir.path()).await;
    for (name, replica) in
        [("a", &mut a.checker), ("restarted", &mut restarted.checker), ("late", &mut late.checker)]
    {
        until_denied(replica, &while_b_down, Duration::from_secs(2)).await;
        for (what, token) in [("first", &first), ("while-b-down", &while_b_down), ("mallory", &late_sub)] {
            assert_eq!(status_of(replica, token).await, 401, "{name}: {what}");
        }
        assert_eq!(status_of(replica, &refused).await, 0, "{name}: the refused one was never accepted");
        assert_eq!(status_of(replica, &innocent).await, 0, "{name}");
    }
    let (wrong, checks) = watcher.wrong_allows().await;
    assert_eq!(wrong, 0, "a revoked token was allowed in {wrong} of {checks} checks");
    assert!(checks > 20, "the watcher ran through the outage: {checks} checks");
}
