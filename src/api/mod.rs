//! Transport: tonic services, HTTP routes and the error table. Each handler converts the
//! request into domain values, calls the registry and converts the answer; no rules here.

pub mod caller;
pub mod error;
pub mod gateway;
pub mod grpc;
mod grpc_metrics;
pub mod http;
pub mod limits;
pub mod observe;
pub mod text_guard;
