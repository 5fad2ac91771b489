//! The pure rules of the alert channel, on the payload a real Alertmanager sent.

use super::*;

fn fixture() -> Notification {
    serde_json::from_str(include_str!(
        "../../../tests/fixtures/alertmanager/webhook.firing.json"
    ))
    .unwrap()
}

#[test]
fn severity_labels_read_through_the_alert_words_and_the_usual_aliases() {
    let mut n = fixture();
    let aliases = SeverityAliases::default();
    for (word, s) in [
        ("critical", Severity::Sev1),
        ("error", Severity::Sev2),
        ("High", Severity::Sev2),
        ("warning", Severity::Sev3),
        ("medium", Severity::Sev3),
        ("low", Severity::Sev4),
        ("info", Severity::Sev5),
        ("SEV4", Severity::Sev4),
        ("p2", Severity::Sev2),
    ] {
        n.common_labels.insert("severity".into(), word.into());
        assert_eq!(severity(&n, &aliases), (s, None), "{word}");
    }
    n.common_labels
        .insert("severity".into(), "apocalyptic".into());
    let (s, problem) = severity(&n, &aliases);
    assert_eq!(s, DEFAULT_SEVERITY);
    assert!(problem.unwrap().contains("apocalyptic"));
}

#[test]
fn a_retry_is_the_same_delivery_and_a_change_is_another() {
    let n = fixture();
    let id = delivery_id("acme/evals", &n);
    assert_eq!(id, delivery_id("acme/evals", &n.clone()));
    assert_ne!(id, delivery_id("acme/other", &n));
    let mut resolved = n.clone();
    resolved.status = "resolved".into();
    assert_ne!(id, delivery_id("acme/evals", &resolved));
    let mut joined = n.clone();
    let mut b = n.alerts[0].clone();
    b.fingerprint = "other".into();
    joined.alerts.push(b);
    assert_ne!(id, delivery_id("acme/evals", &joined));
    assert!(id.len() <= 100);
}

#[test]
fn hostile_labels_are_bounded_and_cannot_mention_or_break_the_body() {
    let mut n = fixture();
    let evil = format!("@octocat <!-- x --> ``` {}", "y".repeat(10_000));
    for i in 0..3000 {
        let mut a = n.alerts[0].clone();
        a.fingerprint = format!("f{i}");
        a.labels.insert("evil".into(), evil.clone());
        a.annotations.insert("summary".into(), evil.clone());
        n.alerts.push(a);
    }
    n.common_annotations.insert("summary".into(), evil.clone());
    let d = declaration(&n, &Runbook::builtin(), &SeverityAliases::default());
    assert!(d.title.chars().count() <= 120, "{}", d.title.len());
    assert!(d.summary.len() < 60_000, "{}", d.summary.len());
    assert!(d.summary.contains("…and 2981 more"));
    assert!(!d.summary.contains("```"));
    let rendered = crate::incident::text::sanitize::sanitize_user_text(&d.summary);
    assert!(!crate::incident::text::sanitize::has_live_mention_or_comment(&rendered));
}

#[test]
fn the_declaration_lists_the_alert_and_starts_when_it_started() {
    let d = declaration(&fixture(), &Runbook::builtin(), &SeverityAliases::default());
    assert_eq!(d.title, "LLMApiRateLimited: LLM API answers 429 to agents");
    assert_eq!(d.severity, Severity::Sev1);
    assert_eq!(d.component.as_deref(), Some("llm-api"));
    assert_eq!(d.started_at.as_deref(), Some("2026-12-01T08:35:57Z"));
    assert!(d.summary.contains("429 rate from eval-1 above 20% for 5m"));
    assert!(d.summary.contains("`instance=eval-1`"));
    assert!(
        d.summary
            .contains("(http://prometheus.example:9090/graph?g0.expr=rate)")
    );
    assert_eq!(
        d.links.as_deref(),
        Some("Alertmanager: http://alertmanager.example:9093")
    );
    assert_eq!(d.via, DeclaredVia::Alert);
}

#[test]
fn by_fingerprint_each_alert_is_its_own_group() {
    let mut n = fixture();
    let mut b = n.alerts[0].clone();
    b.fingerprint = "bbbb".into();
    b.status = "resolved".into();
    n.alerts.push(b);
    let g = groups(&n, GroupBy::Fingerprint);
    assert_eq!(g.len(), 2);
    assert_eq!(g[1].0, "fingerprint:bbbb");
    assert!(!g[1].1.is_firing());
    assert_eq!(groups(&n, GroupBy::Group)[0].0, n.group_key);
}
