//! What a failure report becomes on the cluster: a core/v1 Event with reason
//! `YoukiCreateFailed` on the pod that the bundle's CRI annotations name, its message the
//! first-failure line. Also the two gates in front of the API server: one Event per
//! container id (a bounded memory of the ids seen) and a token bucket. Pure: the sending
//! is in `notify`.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use serde_json::{json, Value};

/// The Event's reason.
pub const REASON: &str = "YoukiCreateFailed";
/// Who reports, in `source.component` and `reportingComponent`.
pub const COMPONENT: &str = "youki-trace";
/// The API server refuses longer messages in events.k8s.io; core/v1 gets the same cap.
const MAX_MESSAGE: usize = 1024;

/// The pod an Event is about, from the report's `pod` object (see `bundle::pod_of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    /// The container's name; None for the pod sandbox.
    pub container: Option<String>,
}

impl PodRef {
    /// The pod of a report, or None when the bundle named no pod (not a CRI container).
    pub fn from_report(pod: &Value) -> Option<Self> {
        let field = |k: &str| pod.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let sandbox = field("container_type").as_deref() == Some("sandbox");
        Some(PodRef {
            namespace: field("namespace")?,
            name: field("name")?,
            uid: field("uid"),
            container: if sandbox { None } else { field("container") },
        })
    }
}

/// One failed create, as the recorder hands it over.
#[derive(Debug, Clone)]
pub struct Failure {
    pub container_id: String,
    pub pod: PodRef,
    /// The first-failure line of the report.
    pub first_failure: String,
    pub unix_ms: u128,
}

/// The path that creates an Event in `namespace`.
pub fn path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/events")
}

/// Lowercase letters, digits, '-' and '.', as a name part; at most `max` of them.
fn name_part(s: &str, max: usize) -> String {
    let part: String = s
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' })
        .take(max)
        .collect();
    part.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// `<pod>.youki.<container id>`: one name per container, so that a recorder restarted
/// after posting gets a conflict instead of a second Event.
fn event_name(f: &Failure) -> String {
    let pod = name_part(&f.pod.name, 180);
    let id = name_part(&f.container_id, 64);
    format!("{pod}.youki.{}", if id.is_empty() { "unknown" } else { &id })
}

/// RFC 3339 in whole seconds, as metav1.Time.
fn timestamp(unix_ms: u128) -> String {
    let t = crate::report::utc(unix_ms / 1000 * 1000);
    format!("{}Z", t.trim_end_matches(".000Z"))
}

/// The message: the first-failure line, cut at a character boundary to fit.
fn message(line: &str) -> String {
    if line.len() <= MAX_MESSAGE {
        return line.to_string();
    }
    let mut end = MAX_MESSAGE - 3;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &line[..end])
}

/// The core/v1 Event for a failure seen on `node`.
pub fn event(f: &Failure, node: &str) -> Value {
    let p = &f.pod;
    let mut involved = json!({"apiVersion": "v1", "kind": "Pod", "namespace": p.namespace, "name": p.name});
    if let Some(uid) = &p.uid {
        involved["uid"] = json!(uid);
    }
    let mut annotations = json!({"youki.dev/container-id": f.container_id});
    if let Some(c) = &p.container {
        annotations["youki.dev/container-name"] = json!(c);
    }
    let at = timestamp(f.unix_ms);
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(f), "namespace": p.namespace, "annotations": annotations},
        "involvedObject": involved,
        "reason": REASON,
        "message": message(&f.first_failure),
        "type": "Warning",
        "count": 1,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "source": {"component": COMPONENT, "host": node},
        "reportingComponent": COMPONENT,
        "reportingInstance": node,
    })
}

/// The container ids already reported, the newest `cap` of them.
#[derive(Debug)]
pub struct Dedup {
    seen: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl Dedup {
    pub fn new(cap: usize) -> Self {
        Dedup { seen: HashSet::new(), order: VecDeque::new(), cap: cap.max(1) }
    }

    /// True the first time `id` is offered (while it is among the newest `cap`).
    pub fn first(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(id.to_string());
        self.order.push_back(id.to_string());
        true
    }
}

/// A token bucket: `burst` tokens, refilled at `per_minute`.
#[derive(Debug)]
pub struct TokenBucket {
    burst: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(burst: u32, per_minute: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket { burst, per_sec: f64::from(per_minute) / 60.0, tokens: burst, last: now }
    }

    /// Takes a token if there is one at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn container_pod() -> Value {
        crate::bundle::pod_of(&json!({"annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.sandbox-id": "0123abcd",
            "io.kubernetes.cri.sandbox-name": "web-0",
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-uid": "7d1c-uid",
        }}))
        .unwrap()
    }

    fn failure(id: &str, line: &str) -> Failure {
        Failure {
            container_id: id.into(),
            pod: PodRef::from_report(&container_pod()).unwrap(),
            first_failure: line.into(),
            unix_ms: 1_796_535_565_123,
        }
    }

    #[test]
    fn the_cri_annotations_name_the_pod_and_container() {
        let p = PodRef::from_report(&container_pod()).unwrap();
        assert_eq!(
            p,
            PodRef { namespace: "shop".into(), name: "web-0".into(), uid: Some("7d1c-uid".into()), container: Some("app".into()) }
        );
        // The sandbox of a pod: the pod itself, no container.
        let sandbox = crate::bundle::pod_of(&json!({"annotations": {
            "io.kubernetes.cri.container-type": "sandbox",
            "io.kubernetes.cri.sandbox-name": "web-0",
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-uid": "7d1c-uid",
        }}))
        .unwrap();
        assert_eq!(PodRef::from_report(&sandbox).unwrap().container, None);
        // A namespace and a name are needed; a uid is not.
        assert_eq!(PodRef::from_report(&json!({"name": "web-0", "container": "app"})), None);
        assert_eq!(PodRef::from_report(&json!({"namespace": "shop", "name": ""})), None);
        assert_eq!(PodRef::from_report(&json!({"namespace": "shop", "name": "p"})).unwrap().uid, None);
        assert_eq!(PodRef::from_report(&Value::Null), None);
    }

    #[test]
    fn the_event_names_the_pod_and_says_the_first_failure() {
        let f = failure("8f2a9c/ABC", r#"stage youki:process: execve("/app") = -1 ENOENT"#);
        let e = event(&f, "node-a");
        assert_eq!(e["metadata"]["name"], "web-0.youki.8f2a9c-abc");
        assert_eq!(e["metadata"]["namespace"], "shop");
        assert_eq!(
            e["involvedObject"],
            json!({"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web-0", "uid": "7d1c-uid"})
        );
        assert_eq!(e["reason"], "YoukiCreateFailed");
        assert_eq!(e["message"], r#"stage youki:process: execve("/app") = -1 ENOENT"#);
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["firstTimestamp"], "2026-12-06T05:39:25Z");
        assert_eq!(e["source"], json!({"component": "youki-trace", "host": "node-a"}));
        assert_eq!(e["metadata"]["annotations"]["youki.dev/container-name"], "app");
        assert_eq!(path("shop"), "/api/v1/namespaces/shop/events");
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let line = format!("stage youki: write(\"{}\") = -1 EINVAL", "é".repeat(700));
        let m = message(&line);
        assert!(m.len() <= MAX_MESSAGE && m.ends_with("..."), "{}", m.len());
        assert_eq!(message("short"), "short");
    }

    #[test]
    fn each_container_id_passes_once_within_the_memory() {
        let mut d = Dedup::new(2);
        assert!(d.first("a"));
        assert!(!d.first("a"));
        assert!(d.first("b"));
        assert!(d.first("c")); // "a" falls out of the memory of two
        assert!(!d.first("b"));
        assert!(d.first("a"));
    }

    #[test]
    fn the_bucket_allows_a_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 60, t0);
        assert_eq!((0..5).filter(|_| b.take(t0)).count(), 3);
        assert!(!b.take(t0 + Duration::from_millis(500)));
        assert!(b.take(t0 + Duration::from_millis(1000)));
        assert!(!b.take(t0 + Duration::from_millis(1100)));
        // A long quiet time refills to the burst, no more.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..5).filter(|_| b.take(later)).count(), 3);
        // A clock that steps back takes nothing extra.
        assert!(!b.take(t0));
    }
}
