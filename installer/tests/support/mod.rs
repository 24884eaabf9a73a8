//! Shared by the integration tests that need a Kubernetes API server.
pub mod apiserver;
