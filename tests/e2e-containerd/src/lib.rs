//! The parts of the e2e suite that other tools reuse: the OTLP/HTTP test receiver (`cri-e2e
//! --otlp` and `otlp-sink`, which tests/bench/bench.sh points youki's exporter at).

pub mod otlp;
