//! How client commands print: human text by default, proto3 canonical JSON with
//! `--output json` (the JSON bridge's serializer), errors as `error: <message> (<REASON>)`
//! on stderr.

use std::io::Write as _;

use crate::{
    client::{ClientError, ClientResult},
    pb,
};

/// The answer format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Lines for people.
    #[default]
    Text,
    /// Proto3 canonical JSON for scripts.
    Json,
}

/// Where and how a command prints.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
}

impl Out {
    /// Prints an answer: `name` is its `relreg.v1` message type, `text` renders it for people.
    pub(crate) fn answer<M: prost::Message>(
        &self,
        name: &str,
        message: &M,
        text: impl FnOnce(&M) -> String,
    ) -> ClientResult<()> {
        if self.json {
            let value = pb::to_json(name, message).map_err(ClientError::internal)?;
            self.json_value(&value)
        } else {
            self.line(&text(message))
        }
    }

    /// Prints a JSON value (pretty, one document).
    pub(crate) fn json_value(&self, value: &serde_json::Value) -> ClientResult<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| ClientError::internal(e.to_string()))?;
        self.line(&text)
    }

    /// Prints text on stdout (a trailing newline is added when missing).
    pub(crate) fn line(&self, text: &str) -> ClientResult<()> {
        let mut out = std::io::stdout().lock();
        let written = if text.is_empty() || text.ends_with('\n') {
            out.write_all(text.as_bytes())
        } else {
            writeln!(out, "{text}")
        };
        written
            .and_then(|()| out.flush())
            .map_err(|e| ClientError::new(crate::client::Exit::Local, format!("stdout: {e}")))
    }
}

/// Prints a serializable report as one pretty JSON document (`sync` and `pull`).
pub(crate) fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: encoding the answer: {e}"),
    }
}

/// Prints a failure the way every client command does.
pub(crate) fn print_error(error: &ClientError) {
    eprintln!("error: {error}");
}

/// Returns an enum's short name: `VERSION_STATE_DRAFT` → `DRAFT`.
pub(crate) fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

/// Renders a version for people.
pub(crate) fn version_text(v: &pb::Version) -> String {
    let state = pb::VersionState::try_from(v.state).map_or_else(
        |_| v.state.to_string(),
        |s| short(s.as_str_name(), "VERSION_STATE_"),
    );
    let mut text = format!("{}/{}@{} {state}", v.repo, v.package, v.version);
    if !v.content_digest.is_empty() {
        text.push_str(&format!(" {}", v.content_digest));
    }
    if !v.deprecation_reason.is_empty() {
        text.push_str(&format!(" (deprecated: {})", v.deprecation_reason));
    }
    if !v.yank_reason.is_empty() {
        text.push_str(&format!(" (yanked: {})", v.yank_reason));
    }
    for f in &v.files {
        text.push_str(&format!("\n  {} {} {} bytes", f.path, f.digest, f.size));
    }
    text
}

/// Renders a release for people.
pub(crate) fn release_text(r: &pb::Release) -> String {
    let state = pb::ReleaseState::try_from(r.state).map_or_else(
        |_| r.state.to_string(),
        |s| short(s.as_str_name(), "RELEASE_STATE_"),
    );
    let mut text = format!("{} {}/{} {} {state}", r.id, r.repo, r.channel, r.version);
    if r.sequence != 0 {
        text.push_str(&format!(" seq {}", r.sequence));
    }
    text.push_str(&format!(" app >= {}", r.min_app_version));
    if !r.max_app_version.is_empty() {
        text.push_str(&format!(", <= {}", r.max_app_version));
    }
    if !r.deprecation_reason.is_empty() {
        text.push_str(&format!(" (deprecated: {})", r.deprecation_reason));
    }
    for a in &r.artifacts {
        text.push_str(&format!("\n  {} {}@{}", a.role, a.package, a.version));
    }
    text
}

/// Renders validation findings, one per line: severity, rule, field, message.
pub(crate) fn findings_text(findings: &[pb::Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let severity = pb::Severity::try_from(f.severity).map_or_else(
                |_| f.severity.to_string(),
                |s| short(s.as_str_name(), "SEVERITY_"),
            );
            let field = if f.field.is_empty() { "-" } else { &f.field };
            format!("{severity} {} {field}: {}", f.rule, f.message)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders a next-page token, if any, as a hint line.
pub(crate) fn next_page(token: &str) -> String {
    if token.is_empty() {
        String::new()
    } else {
        format!("\n(more: --page-token {token})")
    }
}
