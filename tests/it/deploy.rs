//! Deployment files agree with each other and with README: `docker build` and `fly
//! deploy` cannot run here, so the Dockerfile, fly.toml, app.yml and README's tables
//! are read and compared instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use responder::yaml::{self, Yaml};

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One `FROM … [AS name]` section of a Dockerfile.
#[derive(Debug)]
struct Stage {
    name: String,
    from: String,
    /// (INSTRUCTION in upper case, its arguments), continuation lines joined.
    instructions: Vec<(String, String)>,
}

fn dockerfile(src: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in src.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for l in logical {
        let (word, args) = l.split_once(char::is_whitespace).unwrap_or((&l, ""));
        let (word, args) = (word.to_ascii_uppercase(), args.trim().to_string());
        if word == "FROM" {
            let parts: Vec<&str> = args.split_whitespace().collect();
            let name = match parts.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => stages.len().to_string(),
            };
            stages.push(Stage {
                name,
                from: parts[0].to_string(),
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((word, args));
        }
    }
    stages
}

fn stage<'a>(stages: &'a [Stage], name: &str) -> &'a Stage {
    stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage {name:?} in the Dockerfile"))
}

/// The stage and its ancestors within the file, nearest first.
fn lineage<'a>(stages: &'a [Stage], name: &str) -> Vec<&'a Stage> {
    let mut out = vec![stage(stages, name)];
    while let Some(parent) = stages.iter().find(|s| s.name == out.last().unwrap().from) {
        out.push(parent);
    }
    out
}

/// The last value of `instruction` in effect for the stage (inherited from its bases).
fn effective(stages: &[Stage], name: &str, instruction: &str) -> Option<String> {
    lineage(stages, name).iter().find_map(|s| {
        s.instructions
            .iter()
            .rev()
            .find(|(w, _)| w == instruction)
            .map(|(_, a)| a.clone())
    })
}

/// Every `ENV KEY=VALUE` in effect for the stage.
fn env(stages: &[Stage], name: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in lineage(stages, name).iter().rev() {
        for (w, args) in &s.instructions {
            if w == "ENV" {
                for pair in args.split_whitespace() {
                    let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                    out.insert(k.to_string(), v.trim_matches('"').to_string());
                }
            }
        }
    }
    out
}

fn port_of(listen: &str) -> i64 {
    listen.rsplit_once(':').unwrap().1.parse().unwrap()
}

fn seconds(v: &toml::Value) -> i64 {
    match v {
        toml::Value::Integer(n) => *n,
        toml::Value::String(s) => responder::agent_token::parse_ttl(s).unwrap(),
        other => panic!("not a duration: {other:?}"),
    }
}

/// The rows of the Markdown table whose header starts with `header`, as cells with
/// backticks removed.
fn readme_table(readme: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = readme.lines().skip_while(|l| !l.starts_with(header));
    assert!(lines.next().is_some(), "README has no table {header:?}");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('`', ""))
                .collect()
        })
        .collect()
}

fn fly() -> toml::Value {
    toml::from_str(&read("fly.toml")).expect("fly.toml is TOML")
}

#[test]
fn dockerfile_stages_user_port_volume_and_health_check_agree_with_fly_toml() {
    let stages = dockerfile(&read("Dockerfile"));
    let fly = fly();

    // A builder compiling the locked release binary; a slim Debian runtime by default.
    let builder = stage(&stages, "builder");
    assert!(
        builder
            .instructions
            .iter()
            .any(|(w, a)| w == "RUN" && a.contains("cargo build --release --locked")),
        "the builder runs cargo build --release --locked"
    );
    assert_eq!(
        stages.last().unwrap().name,
        "runtime",
        "`docker build` without --target gives the runtime image"
    );
    let root = lineage(&stages, "runtime").last().unwrap().from.clone();
    assert!(
        root.starts_with("debian:") && root.ends_with("-slim"),
        "{root}"
    );
    let packages = effective(&stages, "runtime", "RUN").unwrap_or_default();
    for needed in ["ca-certificates", "libssl3", "curl", "git"] {
        assert!(packages.contains(needed), "runtime installs {needed}");
    }

    // Not root.
    let user = effective(&stages, "runtime", "USER").expect("runtime sets USER");
    let name = user.split(':').next().unwrap();
    assert!(!matches!(name, "root" | "0" | ""), "runtime runs as {user}");

    // Fly builds its own target, which only starts as root to hand the volume over:
    // its entrypoint drops to the same user before running the service.
    let target = fly["build"]["build-target"].as_str().expect("build-target");
    assert_eq!(fly["build"]["dockerfile"].as_str(), Some("Dockerfile"));
    let entrypoint = effective(&stages, target, "ENTRYPOINT").expect("fly ENTRYPOINT");
    assert!(entrypoint.contains("fly-entrypoint"), "{entrypoint}");
    let script = read("deploy/fly-entrypoint.sh");
    let exec = script
        .lines()
        .find(|l| l.trim_start().starts_with("exec "))
        .expect("the entrypoint execs the service");
    assert!(
        exec.contains("setpriv") && exec.contains(&format!("--reuid={name}")),
        "{exec}"
    );
    assert!(script.contains(&format!("chown {name}:")), "{script}");

    // One port everywhere.
    let internal_port = fly["http_service"]["internal_port"].as_integer().unwrap();
    let docker_env = env(&stages, "runtime");
    let fly_env = fly["env"].as_table().unwrap();
    assert_eq!(port_of(&docker_env["RESPONDER_LISTEN"]), internal_port);
    assert_eq!(
        port_of(fly_env["RESPONDER_LISTEN"].as_str().unwrap()),
        internal_port
    );
    let exposed = effective(&stages, "runtime", "EXPOSE").expect("EXPOSE");
    assert_eq!(exposed.parse::<i64>().unwrap(), internal_port);

    // One health check path, on that port.
    let checks = fly["http_service"]["checks"].as_array().expect("checks");
    let path = checks[0]["path"].as_str().unwrap();
    assert_eq!(path, "/healthz");
    let health = effective(&stages, "runtime", "HEALTHCHECK").expect("HEALTHCHECK");
    assert!(
        health.contains(&format!("127.0.0.1:{internal_port}{path}")),
        "{health}"
    );

    // The volume is the data directory.
    let data_dir = &docker_env["RESPONDER_DATA_DIR"];
    assert_eq!(
        fly_env["RESPONDER_DATA_DIR"].as_str(),
        Some(data_dir.as_str())
    );
    let mounts = fly["mounts"].as_array().expect("[[mounts]]");
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["destination"].as_str(), Some(data_dir.as_str()));
    assert_eq!(mounts[0]["source"].as_str(), Some("responder_data"));
    let volume = effective(&stages, "runtime", "VOLUME").expect("VOLUME");
    assert!(volume.contains(&format!("\"{data_dir}\"")), "{volume}");

    // Graceful stop: SIGTERM, and longer than the service's 20 s drain.
    assert_eq!(
        effective(&stages, "runtime", "STOPSIGNAL").as_deref(),
        Some("SIGTERM")
    );
    assert_eq!(fly["kill_signal"].as_str(), Some("SIGTERM"));
    assert!(seconds(&fly["kill_timeout"]) >= 20);

    // The process holds the inbox worker and the jobs: one machine always runs.
    let http = &fly["http_service"];
    assert!(http["min_machines_running"].as_integer().unwrap() >= 1);
    assert_eq!(http["force_https"].as_bool(), Some(true));
    let concurrency = &http["concurrency"];
    assert_eq!(concurrency["type"].as_str(), Some("requests"));
    assert!(
        concurrency["soft_limit"].as_integer().unwrap()
            <= concurrency["hard_limit"].as_integer().unwrap()
    );
}

#[test]
fn every_setting_the_deployment_files_set_is_documented_in_readme() {
    let readme = read("README.md");
    let documented: BTreeSet<String> = readme_table(&readme, "| variable | flag |")
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    let stages = dockerfile(&read("Dockerfile"));
    let fly = fly();
    let mut set: BTreeSet<String> = env(&stages, "runtime").into_keys().collect();
    set.extend(fly["env"].as_table().unwrap().keys().cloned());
    for required in ["RESPONDER_LISTEN", "RESPONDER_DATA_DIR"] {
        assert!(
            set.contains(required),
            "{required} is set for the container"
        );
    }
    let undocumented: Vec<_> = set.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "set but not in README: {undocumented:?}"
    );
}

#[test]
fn dockerignore_keeps_what_the_builder_copies() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/').to_string())
        .collect();
    let stages = dockerfile(&read("Dockerfile"));
    let mut copied = Vec::new();
    for s in &stages {
        for (w, args) in &s.instructions {
            if w == "COPY" && !args.contains("--from") {
                let words: Vec<&str> = args
                    .split_whitespace()
                    .filter(|a| !a.starts_with("--"))
                    .collect();
                copied.extend(words[..words.len() - 1].iter().map(|w| w.to_string()));
            }
        }
    }
    assert!(copied.iter().any(|c| c == "src"));
    for source in &copied {
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(source).exists(),
            "COPY {source}: no such path"
        );
        for pattern in &ignored {
            assert!(
                !(source == pattern || source.starts_with(&format!("{pattern}/"))),
                ".dockerignore's {pattern} hides COPY {source}"
            );
        }
    }
}

#[test]
fn app_manifest_asks_for_exactly_what_readme_justifies() {
    let manifest = yaml::parse(&read("app.yml")).expect("app.yml is readable YAML");
    let text = |key: &str| {
        manifest
            .get(key)
            .and_then(Yaml::as_str)
            .unwrap_or_else(|| panic!("app.yml has no {key}"))
            .to_string()
    };
    assert!(!text("name").is_empty() && !text("description").is_empty());
    assert!(text("url").starts_with("https://"));
    assert_eq!(text("public"), "false");
    let hook = manifest.get("hook_attributes").expect("hook_attributes");
    assert!(
        hook.get("url")
            .and_then(Yaml::as_str)
            .is_some_and(|u| u.starts_with("https://") && u.ends_with("/webhook")),
        "the webhook URL points at POST /webhook"
    );
    for key in ["redirect_url", "setup_url"] {
        assert!(text(key).starts_with("https://"), "{key}");
    }

    // Permissions: exactly these, and each justified in README. `pull_requests`
    // is write because opening a pull request (the runbook and forms PRs) needs it;
    // the fake GitHub grants installations exactly `app.yml`'s permissions, so the
    // flow tests fail if a feature needs more.
    let Some(Yaml::Map(permissions)) = manifest.get("default_permissions") else {
        panic!("default_permissions is a mapping");
    };
    let permissions: BTreeMap<String, String> = permissions
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let expected: BTreeMap<String, String> = [
        ("contents", "write"),
        ("issues", "write"),
        ("metadata", "read"),
        ("pull_requests", "write"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(permissions, expected);
    let readme = read("README.md");
    let justified: BTreeMap<String, String> =
        readme_table(&readme, "| permission | access | why |")
            .into_iter()
            .inspect(|row| assert!(row[2].len() > 10, "{row:?} says why"))
            .map(|row| (row[0].clone(), row[1].clone()))
            .collect();
    assert_eq!(justified, expected, "README's permission table");

    // Events: the subscribed ones are the manifest's; GitHub sends the installation
    // events to every App and does not accept them as subscriptions.
    let events: BTreeSet<String> = manifest
        .get("default_events")
        .and_then(Yaml::as_seq)
        .expect("default_events")
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    let rows = readme_table(&readme, "| event | in `app.yml` | why |");
    let with = |kind: &str| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| r[1] == kind)
            .map(|r| r[0].clone())
            .collect()
    };
    assert_eq!(events, with("subscribed"), "README's subscribed events");
    assert_eq!(
        with("always delivered"),
        ["installation", "installation_repositories"]
            .map(String::from)
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(
        rows.len(),
        events.len() + 2,
        "every README event row is classified"
    );
}

#[tokio::test]
async fn the_health_check_path_is_served() {
    let svc = crate::support::service::TestService::start(|_| {}).await;
    let path = fly()["http_service"]["checks"][0]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let status = reqwest::get(format!("{}{path}", svc.url))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    svc.stop().await;
}
