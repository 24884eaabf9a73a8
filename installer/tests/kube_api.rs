//! `KubeNodes` against kube's test tooling: a tower-test mock service given to
//! `kube::Client::new` stands in for the API server, since no API server can run on this
//! machine. Each test checks the exact request the installer sends and how it reads the
//! answer, errors included.

use http::{Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use tower_test::mock::{self, Handle};

use youki_installer::kube_api::KubeNodes;
use youki_installer::labels::NodeApi;

type MockHandle = Handle<Request<Body>, Response<Body>>;

/// A `KubeNodes` on a mock service, and a thread that answers with `serve`.
fn with_mock<T>(
    serve: impl FnOnce(MockHandle) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + 'static,
    test: impl FnOnce(&KubeNodes) -> T,
) -> T {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = std::thread::spawn(move || {
        let rt = youki_installer::runtime().expect("runtime");
        rt.block_on(serve(handle));
    });
    let rt = youki_installer::runtime().expect("runtime");
    let client = {
        let _entered = rt.enter();
        kube::Client::new(service, "default")
    };
    let nodes = KubeNodes::from_client(rt, client);
    let out = test(&nodes);
    drop(nodes);
    server.join().expect("mock server");
    out
}

async fn body_of(req: Request<Body>) -> (String, String, Option<String>, Value) {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let ctype = req.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = req.into_body().collect_bytes().await.expect("body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("json body") };
    (method, uri, ctype, body)
}

fn answer(code: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string().into_bytes()))
        .expect("response")
}

fn node(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
}

#[test]
fn labels_are_set_and_removed_with_a_merge_patch() {
    with_mock(
        |mut h| {
            Box::pin(async move {
                let (req, send) = h.next_request().await.expect("set");
                let (method, uri, ctype, body) = body_of(req).await;
                assert_eq!(method, "PATCH");
                assert_eq!(uri, "/api/v1/nodes/node-a?");
                assert_eq!(ctype.as_deref(), Some("application/merge-patch+json"));
                assert_eq!(body, json!({"metadata": {"labels": {"youki.dev/runtime": "ready"}}}));
                send.send_response(answer(200, node("node-a", json!({"youki.dev/runtime": "ready"}))));

                let (req, send) = h.next_request().await.expect("remove");
                let (method, _, _, body) = body_of(req).await;
                assert_eq!(method, "PATCH");
                assert_eq!(body, json!({"metadata": {"labels": {"youki.dev/runtime": null}}}));
                send.send_response(answer(200, node("node-a", json!({}))));
            })
        },
        |api| {
            api.set_label("node-a", "youki.dev/runtime", Some("ready")).expect("set");
            api.set_label("node-a", "youki.dev/runtime", None).expect("remove");
        },
    );
}

#[test]
fn the_uninstall_label_is_read_from_the_node_and_nodes_listed_by_selector() {
    let (label, missing, listed) = with_mock(
        |mut h| {
            Box::pin(async move {
                for labels in [json!({"youki.dev/uninstall": "requested"}), json!({"other": "x"})] {
                    let (req, send) = h.next_request().await.expect("get");
                    let (method, uri, _, _) = body_of(req).await;
                    assert_eq!((method.as_str(), uri.as_str()), ("GET", "/api/v1/nodes/node-a"));
                    send.send_response(answer(200, node("node-a", labels)));
                }
                let (req, send) = h.next_request().await.expect("list");
                let (method, uri, _, _) = body_of(req).await;
                assert_eq!(method, "GET");
                assert_eq!(uri, "/api/v1/nodes?&labelSelector=youki.dev%2Fruntime");
                send.send_response(answer(
                    200,
                    json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {},
                           "items": [node("node-a", json!({})), node("node-b", json!({}))]}),
                ));
            })
        },
        |api| {
            (
                api.label("node-a", "youki.dev/uninstall").expect("read"),
                api.label("node-a", "youki.dev/uninstall").expect("read"),
                api.nodes(Some("youki.dev/runtime")).expect("list"),
            )
        },
    );
    assert_eq!(label.as_deref(), Some("requested"));
    assert_eq!(missing, None);
    assert_eq!(listed, vec!["node-a".to_string(), "node-b".to_string()]);
}

#[test]
fn a_refusal_names_the_call_the_code_and_the_servers_message() {
    let err = with_mock(
        |mut h| {
            Box::pin(async move {
                let (_, send) = h.next_request().await.expect("patch");
                send.send_response(answer(
                    403,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "nodes \"node-a\" is forbidden: User \"system:serviceaccount:youki-system:default\" cannot patch resource \"nodes\"",
                           "reason": "Forbidden", "code": 403}),
                ));
            })
        },
        |api| api.set_label("node-a", "youki.dev/runtime", Some("ready")).expect_err("refused"),
    );
    assert_eq!(
        err.to_string(),
        "label node \"node-a\" youki.dev/runtime=ready: the API server answered 403 Forbidden: \
         nodes \"node-a\" is forbidden: User \"system:serviceaccount:youki-system:default\" cannot patch resource \"nodes\""
    );
}

#[test]
fn a_broken_connection_is_reported_with_the_call() {
    let err = with_mock(
        |mut h| {
            Box::pin(async move {
                let (_, send) = h.next_request().await.expect("get");
                send.send_error(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"));
            })
        },
        |api| api.label("node-a", "youki.dev/uninstall").expect_err("broken"),
    );
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert!(chain.starts_with("read node \"node-a\": no answer from the API server: "), "{chain}");
    assert!(chain.contains("connection refused"), "{chain}");
}
