//! Black-box tests: a real relreg server driven through real clients (the generated tonic
//! client over h2c, gRPC-Web and plain HTTP over HTTP/1.1), each case on SQLite and PostgreSQL.

mod common;
mod s3;

mod edge;
mod edge_requests;
mod events;

mod auth;
mod bad_input;
mod browse;
mod cli;
mod cli_errors;
mod cli_probe;
mod cli_push;
mod client_support;
mod gc;
mod github;
mod grpc_web_browser;
mod hostile_input;
mod http_blobs;
mod http_uploads;
mod json_bridge;
mod lifecycle;
mod metrics;
mod migrations_online;
mod multi_server;
mod offers;
mod outage;
mod pull;
mod races;
mod releases;
mod retention;
mod rollouts;
mod schema_rules;
mod server_ops;
mod service_stack;
mod storage_ops;
mod store_contract;
mod store_rules;
mod sync;
mod trust;
mod tuf;
mod wakeups;
