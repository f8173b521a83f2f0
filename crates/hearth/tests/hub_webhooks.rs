//! An automation's incoming webhook over real HTTP: the secret URL fires its `webhook`
//! trigger with the body; a wrong secret, the secret on another automation's id, and a
//! removed URL all answer 404 and run nothing.

use hearth_model::AutomationSpec;
use hearth_services::automations::Automations;
use hearth_testkit::{Backend, TestHub, start_hub};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// POSTs `body` to `path` (no cookie, no Origin: a machine's call); status and body.
async fn post(hub: &TestHub, path: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(hub.http()).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        hub.http(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn create(automations: &Automations, name: &str) -> String {
    let spec: AutomationSpec = serde_json::from_value(serde_json::json!({
        "group": "home", "name": name,
        "triggers": [{"type": "webhook"}],
        "actions": [{"type": "notify", "message": "Someone rang"}]}))
    .unwrap();
    automations.create("cli:test", spec).await.unwrap().id
}

async fn a_secret_url_fires_its_automation_only(backend: Backend) {
    let hub = start_hub(backend).await;
    let automations = Automations::new(hub.store());
    let doorbell = create(&automations, "Doorbell").await;
    let other = create(&automations, "Other").await;
    let secret = automations
        .make_webhook("cli:test", &doorbell)
        .await
        .unwrap();
    automations.make_webhook("cli:test", &other).await.unwrap();
    hub.engine().reload().await.unwrap();

    let (status, body) = post(
        &hub,
        &format!("/api/v1/hooks/{doorbell}/{secret}"),
        r#"{"who": "courier"}"#,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let run: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let runs = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let runs = automations.runs(&doorbell, 10).await.unwrap();
            if runs.iter().any(|run| run.finished_at_ms.is_some()) {
                return runs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run recorded");
    assert_eq!(runs[0].id, run["run"].as_str().unwrap());
    assert_eq!(runs[0].trigger["type"], "webhook");
    assert_eq!(runs[0].trigger["body"]["who"], "courier");

    // Wrong secret; the right secret on another automation's id; nothing runs.
    let wrong = format!("/api/v1/hooks/{doorbell}/{}", "x".repeat(32));
    assert_eq!(post(&hub, &wrong, "{}").await.0, 404);
    let borrowed = format!("/api/v1/hooks/{other}/{secret}");
    assert_eq!(post(&hub, &borrowed, "{}").await.0, 404);
    assert!(automations.runs(&other, 10).await.unwrap().is_empty());

    // A removed URL stops working.
    automations
        .remove_webhook("cli:test", &doorbell)
        .await
        .unwrap();
    let removed = format!("/api/v1/hooks/{doorbell}/{secret}");
    assert_eq!(post(&hub, &removed, "{}").await.0, 404);
    assert_eq!(automations.runs(&doorbell, 10).await.unwrap().len(), 1);
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_secret_url_fires_its_automation_only);
