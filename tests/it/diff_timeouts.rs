//! Git servers that stall: fetches end at their deadline with a named error, and
//! stalled repositories never hold up the diffs of the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use serde_json::Value;

use crate::diff_api::{Setup, setup_with};
use crate::support::fake_github::RepoOpts;
use crate::support::fake_github::git_stall::GitStall;

const DEADLINE: Duration = Duration::from_secs(3);

/// `acme/widgets` as usual, and `acme/<prefix>0..n` (same commits) whose git server
/// stalls the way `stall(i)` says.
async fn stalled_world(prefix: &str, n: usize, stall: impl Fn(usize) -> GitStall) -> Setup {
    let s = setup_with(|a| a.git_fetch_timeout = format!("{}s", DEADLINE.as_secs())).await;
    let bare = s._tmp.path().join("src/repo.git");
    for i in 0..n {
        let name = format!("{prefix}{i}");
        let opts = RepoOpts {
            installation: Some(5),
            public: false,
        };
        s.fake.add_repo("acme", &name, &bare, opts);
        s.fake.add_pull("acme", &name, 1);
        s.fake.stall_git("acme", &name, stall(i));
    }
    s
}

/// Asks for every stalled repository's diff at once, lets their fetches start and
/// hang, then asks for `acme/widgets` (within 30 s).
async fn widgets_behind_stalls(
    s: &Arc<Setup>,
    prefix: &str,
    n: usize,
) -> (Vec<JoinHandle<Answer>>, Answer) {
    let stalled: Vec<_> = (0..n)
        .map(|i| {
            let (s, repo) = (s.clone(), format!("acme/{prefix}{i}"));
            tokio::spawn(async move { get(&s, &repo).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let other = tokio::time::timeout(Duration::from_secs(30), get(s, "acme/widgets"))
        .await
        .expect("acme/widgets answers while the others stall");
    eprintln!(
        "acme/widgets answered in {:?} behind {n} stalled fetches",
        other.2
    );
    (stalled, other)
}

type Answer = (u16, Value, Duration);

async fn get(s: &Setup, repo: &str) -> Answer {
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
    // Silent for the even ones, trickling progress for the odd ones.
    let stall = |i: usize| match i % 2 {
        0 => GitStall::Silent,
        _ => GitStall::Trickle,
    };
    let s = Arc::new(stalled_world("stall", 5, stall).await);
    let (stalled, other) = widgets_behind_stalls(&s, "stall", 5).await;
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
    let slots = responder::service::FETCH_THREADS;
    let s = Arc::new(stalled_world("quiet", slots, |_| GitStall::Silent).await);
    let (quiet, other) = widgets_behind_stalls(&s, "quiet", slots).await;
    assert_eq!(other.0, 200, "{}", other.1);
    assert_eq!(other.1["source"], "git");
    for (i, h) in quiet.into_iter().enumerate() {
        let (status, body, _) = h.await.unwrap();
        assert_eq!(status, 504, "acme/quiet{i}: {body}");
        assert_eq!(body["error"], "git_fetch_timeout", "{body}");
    }
}
