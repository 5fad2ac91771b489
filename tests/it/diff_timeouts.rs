//! Git servers that stall: fetches end at their deadline with a named error, and
//! stalled repositories never hold up the diffs of the others.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::diff_api::{Setup, setup_with};
use crate::support::fake_github::RepoOpts;
use crate::support::fake_github::git_stall::GitStall;

const DEADLINE: Duration = Duration::from_secs(3);

/// `acme/widgets` as usual, and `acme/stall0..4` (same commits) whose git server
/// stalls: silently for the even ones, trickling progress for the odd ones.
async fn stalled_world() -> Setup {
    let s = setup_with(|a| a.git_fetch_timeout = format!("{}s", DEADLINE.as_secs())).await;
    let bare = s._tmp.path().join("src/repo.git");
    for i in 0..5 {
        let name = format!("stall{i}");
        let opts = RepoOpts {
            installation: Some(5),
            public: false,
        };
        s.fake.add_repo("acme", &name, &bare, opts);
        s.fake.add_pull("acme", &name, 1);
        let stall = if i % 2 == 0 {
            GitStall::Silent
        } else {
            GitStall::Trickle
        };
        s.fake.stall_git("acme", &name, stall);
    }
    s
}

async fn get(s: &Setup, repo: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let token = crate::support::service::agent_token(&[repo], &["diff:read"], 3600);
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/v1/repos/{repo}/pulls/1/files?via=git",
            s.svc.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_git_servers_time_out_by_name_and_never_hold_up_another_repository() {
    let s = stalled_world().await;
    let s = std::sync::Arc::new(s);
    let stalled: Vec<_> = (0..5)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { get(&s, &format!("acme/stall{i}")).await })
        })
        .collect();
    // Let every stalled fetch start and hang.
    tokio::time::sleep(Duration::from_millis(700)).await;

    let other = tokio::time::timeout(Duration::from_secs(20), get(&s, "acme/widgets"))
        .await
        .expect("the other repository's diff is not queued behind stalled fetches");
    eprintln!(
        "acme/widgets answered in {:?} while 5 fetches stall",
        other.2
    );
    assert_eq!(other.0, 200, "{}", other.1);
    assert_eq!(other.1["source"], "git");
    assert!(
        other.2 < DEADLINE,
        "acme/widgets took {:?}, as long as the stalled fetches' deadline",
        other.2
    );

    for (i, h) in stalled.into_iter().enumerate() {
        let (status, body, took) = tokio::time::timeout(Duration::from_secs(30), h)
            .await
            .expect("a stalled fetch ends at its deadline")
            .unwrap();
        eprintln!("acme/stall{i}: {status} after {took:?}: {body}");
        assert_eq!(status, 504, "{body}");
        assert_eq!(body["error"], "git_fetch_timeout", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&format!("acme/stall{i}")), "{message}");
        assert!(message.contains("did not finish within 3 s"), "{message}");
        assert!(took < DEADLINE + Duration::from_secs(3), "{took:?}");
        if i % 2 == 1 {
            // Bytes kept coming: libgit2 itself gave up the fetch at the deadline.
            assert!(message.contains("fetching +refs/pull/1/head"), "{message}");
        }
    }
}

/// Silent git servers give their fetch slots back at their deadline: with every fetch
/// slot held by one, another repository's fetch gets a slot when they time out and
/// answers. (When libgit2's read held on for its 60 s stall timeout, the other
/// request's own deadline ran out waiting for a slot: 504.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_git_servers_give_their_fetch_slots_back_at_the_deadline() {
    let s = setup_with(|a| a.git_fetch_timeout = format!("{}s", DEADLINE.as_secs())).await;
    let bare = s._tmp.path().join("src/repo.git");
    let slots = responder::service::FETCH_THREADS;
    for i in 0..slots {
        let name = format!("quiet{i}");
        let opts = RepoOpts {
            installation: Some(5),
            public: false,
        };
        s.fake.add_repo("acme", &name, &bare, opts);
        s.fake.add_pull("acme", &name, 1);
        s.fake.stall_git("acme", &name, GitStall::Silent);
    }
    let s = std::sync::Arc::new(s);
    let quiet: Vec<_> = (0..slots)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { get(&s, &format!("acme/quiet{i}")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;

    let other = tokio::time::timeout(Duration::from_secs(30), get(&s, "acme/widgets"))
        .await
        .expect("a fetch slot came back at the silent fetches' deadline");
    eprintln!(
        "acme/widgets answered in {:?} behind {slots} silent fetches",
        other.2
    );
    assert_eq!(other.0, 200, "{}", other.1);
    assert_eq!(other.1["source"], "git");
    for (i, h) in quiet.into_iter().enumerate() {
        let (status, body, _) = h.await.unwrap();
        assert_eq!(status, 504, "acme/quiet{i}: {body}");
        assert_eq!(body["error"], "git_fetch_timeout", "{body}");
    }
}
