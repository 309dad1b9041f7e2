//! A webhook receiver on loopback: it records every delivery and answers with the statuses it is
//! told (204 once they run out). [`verified`] checks deliveries with the PyPI `standardwebhooks`
//! library, an implementation of the signature independent of Tessera's.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a delivery's body is JSON")
    }
}

pub struct Receiver {
    pub url: String,
    answers: Arc<Mutex<VecDeque<u16>>>,
    received: mpsc::UnboundedReceiver<Received>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let answers: Arc<Mutex<VecDeque<u16>>> = Arc::default();
        let (sender, received) = mpsc::unbounded_channel();
        let queued = answers.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let queued = queued.clone();
                let sender = sender.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(name, value)| {
                            (name.to_string(), value.to_str().unwrap_or("").to_owned())
                        })
                        .collect();
                    let _ = sender.send(Received { headers, body });
                    let status = queued.lock().unwrap().pop_front().unwrap_or(204);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url,
            answers,
            received,
            server,
        }
    }

    /// The next requests are answered with these statuses, in order.
    pub fn answer(&self, statuses: &[u16]) {
        self.answers.lock().unwrap().extend(statuses);
    }

    /// The next delivery; fails the test if none comes within 20 s (a bound on a hang, not a
    /// synchronisation: the delivery normally arrives within a poll interval).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("a delivery arrives")
            .expect("the receiver runs")
    }

    /// What arrived so far and was not taken.
    pub fn pending(&mut self) -> Vec<Received> {
        let mut got = Vec::new();
        while let Ok(delivery) = self.received.try_recv() {
            got.push(delivery);
        }
        got
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Each delivery's payload as `standardwebhooks` verified it with `secret`, or the name of the
/// error it raised.
pub fn verified(secret: &str, deliveries: &[Received]) -> Vec<Result<Value, String>> {
    let Some(python) = crate::support::python_with("standardwebhooks") else {
        // Without the library (outside scripts/test.sh) the bodies are taken as they are.
        return deliveries.iter().map(|d| Ok(d.json())).collect();
    };
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
request = json.load(sys.stdin)
results = []
for delivery in request["deliveries"]:
    try:
        payload = Webhook(request["secret"]).verify(delivery["body"], delivery["headers"])
        results.append({"ok": payload})
    except Exception as error:
        results.append({"error": type(error).__name__})
print(json.dumps(results))
"#;
    let input = json!({
        "secret": secret,
        "deliveries": deliveries
            .iter()
            .map(|d| json!({ "headers": d.headers, "body": d.body }))
            .collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    results
        .into_iter()
        .map(|r| match r.get("ok") {
            Some(payload) => Ok(payload.clone()),
            None => Err(r["error"].as_str().unwrap_or("?").to_owned()),
        })
        .collect()
}
