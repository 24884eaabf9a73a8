//! The telemetry settings from the standard OTEL_* variables (and TRACEPARENT). Pure: the
//! environment comes in as a lookup function, so tests pass a map.

use std::time::Duration;

use super::context::SpanContext;

#[derive(Debug, Clone, PartialEq)]
pub enum Exporter {
    /// OTLP over HTTP with protobuf bodies, to this URL.
    Otlp { url: String, headers: Vec<(String, String)>, timeout: Duration },
    /// Spans printed on stderr (OTEL_TRACES_EXPORTER=console), for demos.
    Console,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub exporter: Exporter,
    pub service_name: String,
    pub resource: Vec<(String, String)>,
    pub parent: Option<SpanContext>,
    pub tracestate: String,
    pub sampler: Sampler,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
    ParentBasedOn,
    ParentBasedOff,
    ParentBasedRatio(f64),
}

/// The longest an export may take: a create must never wait longer on a collector.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(2);

fn pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// None when telemetry is off: no endpoint, no TRACEPARENT, or OTEL_SDK_DISABLED=true.
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Config> {
    if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    let traceparent = get("TRACEPARENT");
    let traces_endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.is_empty());
    let endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.is_empty());
    let console = get("OTEL_TRACES_EXPORTER").is_some_and(|v| v == "console");
    if traceparent.is_none() && traces_endpoint.is_none() && endpoint.is_none() && !console {
        return None;
    }
    if get("OTEL_TRACES_EXPORTER").is_some_and(|v| v == "none") {
        return None;
    }
    let url = traces_endpoint.unwrap_or_else(|| {
        let base = endpoint.unwrap_or_else(|| "http://localhost:4318".into());
        format!("{}/v1/traces", base.trim_end_matches('/'))
    });
    let ms = get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT").or_else(|| get("OTEL_EXPORTER_OTLP_TIMEOUT")).and_then(|v| v.parse::<u64>().ok());
    let timeout = ms.map(Duration::from_millis).unwrap_or(MAX_TIMEOUT).min(MAX_TIMEOUT);
    let mut headers = get("OTEL_EXPORTER_OTLP_HEADERS").map(|h| pairs(&h)).unwrap_or_default();
    headers.extend(get("OTEL_EXPORTER_OTLP_TRACES_HEADERS").map(|h| pairs(&h)).unwrap_or_default());
    let exporter = if console { Exporter::Console } else { Exporter::Otlp { url, headers, timeout } };
    let ratio = get("OTEL_TRACES_SAMPLER_ARG").and_then(|v| v.parse::<f64>().ok()).unwrap_or(1.0).clamp(0.0, 1.0);
    let sampler = match get("OTEL_TRACES_SAMPLER").as_deref() {
        Some("always_on") => Sampler::AlwaysOn,
        Some("always_off") => Sampler::AlwaysOff,
        Some("traceidratio") => Sampler::Ratio(ratio),
        Some("parentbased_always_off") => Sampler::ParentBasedOff,
        Some("parentbased_traceidratio") => Sampler::ParentBasedRatio(ratio),
        _ => Sampler::ParentBasedOn,
    };
    let resource = get("OTEL_RESOURCE_ATTRIBUTES").map(|r| pairs(&r)).unwrap_or_default();
    let service_name = get("OTEL_SERVICE_NAME")
        .or_else(|| resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone()))
        .unwrap_or_else(|| "youki".into());
    Some(Config {
        exporter,
        service_name,
        resource,
        parent: traceparent.as_deref().and_then(SpanContext::parse),
        tracestate: get("TRACESTATE").unwrap_or_default(),
        sampler,
    })
}

impl Sampler {
    /// Whether a trace with this id (and parent) is recorded.
    pub fn sample(self, trace_id: &[u8; 16], parent: Option<&SpanContext>) -> bool {
        let ratio = |r: f64| {
            let mut low = [0u8; 8];
            low.copy_from_slice(&trace_id[8..]);
            (u64::from_be_bytes(low) >> 1) as f64 / (u64::MAX >> 1) as f64 <= r
        };
        match (self, parent) {
            (Sampler::AlwaysOn, _) => true,
            (Sampler::AlwaysOff, _) => false,
            (Sampler::Ratio(r), _) => ratio(r),
            (Sampler::ParentBasedOn | Sampler::ParentBasedOff | Sampler::ParentBasedRatio(_), Some(p)) => p.sampled,
            (Sampler::ParentBasedOn, None) => true,
            (Sampler::ParentBasedOff, None) => false,
            (Sampler::ParentBasedRatio(r), None) => ratio(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Option<Config> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        from_env(|k| m.get(k).cloned())
    }

    #[test]
    fn off_unless_asked() {
        assert!(cfg(&[]).is_none());
        assert!(cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]).is_none());
    }

    #[test]
    fn endpoint_headers_timeout_and_service() {
        let c = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b = 2"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=node-rt,k8s.node.name=n1"),
        ])
        .unwrap();
        let Exporter::Otlp { url, headers, timeout } = c.exporter else { panic!() };
        assert_eq!(url, "http://c:4318/v1/traces");
        assert_eq!(headers, vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(timeout, MAX_TIMEOUT);
        assert_eq!(c.service_name, "node-rt");
        let c = cfg(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/x"), ("OTEL_SERVICE_NAME", "s")]).unwrap();
        assert!(matches!(c.exporter, Exporter::Otlp { ref url, .. } if url == "http://t:1/x"));
        assert_eq!(c.service_name, "s");
    }

    #[test]
    fn traceparent_alone_turns_it_on_with_the_default_endpoint() {
        let c = cfg(&[("TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]).unwrap();
        assert!(c.parent.is_some());
        assert!(matches!(c.exporter, Exporter::Otlp { ref url, .. } if url == "http://localhost:4318/v1/traces"));
    }

    #[test]
    fn samplers() {
        let parent_off = SpanContext { trace_id: [1; 16], span_id: [1; 8], sampled: false };
        assert!(!Sampler::ParentBasedOn.sample(&[1; 16], Some(&parent_off)));
        assert!(Sampler::ParentBasedOn.sample(&[1; 16], None));
        assert!(!Sampler::AlwaysOff.sample(&[1; 16], None));
        assert!(Sampler::Ratio(1.0).sample(&[0xff; 16], None));
        assert!(!Sampler::Ratio(0.0).sample(&[0xff; 16], None));
    }
}
