//! Client errors: what went wrong, said so a person can act on it, with the server's stable
//! reason when it gave one, and the process exit code the CLI ends with.

use std::fmt;

use tonic_types::StatusExt as _;

/// The documented exit codes of the `relreg` client commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// Any failure not listed below (including a server's internal error).
    Failure = 1,
    /// The command line is wrong (clap uses this code too).
    Usage = 2,
    /// What the command names does not exist.
    NotFound = 3,
    /// No token, a wrong token, or a token without the right.
    Auth = 4,
    /// The server refused the input or the state (invalid argument, failed validation, stale etag).
    Invalid = 5,
    /// It exists already, or a concurrent change won (retrying may help).
    Conflict = 6,
    /// The server (or its database) is unreachable or not answering.
    Unavailable = 7,
    /// A local file or directory could not be read or written.
    Local = 8,
    /// Downloaded bytes did not match their digest or size.
    Integrity = 9,
    /// `sync`: the device already runs the latest release.
    UpToDate = 10,
    /// `sync`: no release admits this app version, but newer apps have one.
    AppUpdateRequired = 11,
}

impl Exit {
    /// Returns the numeric process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A failed client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// The exit code this failure ends the CLI with.
    pub exit: Exit,
    /// What happened, lowercase, without a trailing period.
    pub message: String,
    /// The server's stable reason (`ETAG_MISMATCH`, `NOT_FOUND`, …) when it gave one.
    pub reason: Option<String>,
}

/// The result type of the client library.
pub type ClientResult<T> = Result<T, ClientError>;

impl ClientError {
    /// Returns an error with an exit code and message and no server reason.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            reason: None,
        }
    }

    /// Returns a usage error (a malformed argument).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Returns a local I/O error about `path`.
    pub fn local(path: &std::path::Path, e: impl fmt::Display) -> Self {
        Self::new(Exit::Local, format!("{}: {e}", path.display()))
    }

    /// Returns an unexpected failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }

    /// Tells whether trying again later may succeed (server unreachable, or a race lost).
    pub fn is_transient(&self) -> bool {
        matches!(self.exit, Exit::Unavailable) || self.reason.as_deref() == Some("ABORTED")
    }

    /// Maps an HTTP error answer (status and relreg's JSON error body) to a client error.
    pub fn from_http(status: http::StatusCode, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            message: Option<String>,
            #[serde(default)]
            details: Vec<serde_json::Value>,
        }
        let parsed: Option<Body> = serde_json::from_slice(body).ok();
        let reason = parsed.as_ref().and_then(|b| {
            b.details
                .iter()
                .find_map(|d| d.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
        });
        let message = parsed
            .and_then(|b| b.message)
            .unwrap_or_else(|| format!("server answered {status}"));
        use http::StatusCode as S;
        let exit = match status {
            S::NOT_FOUND => Exit::NotFound,
            S::UNAUTHORIZED | S::FORBIDDEN => Exit::Auth,
            S::CONFLICT => Exit::Conflict,
            S::SERVICE_UNAVAILABLE | S::BAD_GATEWAY | S::GATEWAY_TIMEOUT => Exit::Unavailable,
            s if s.is_client_error() => Exit::Invalid,
            _ => Exit::Failure,
        };
        Self {
            exit,
            message,
            reason,
        }
    }

    /// Maps a transport failure of an HTTP request.
    pub fn from_reqwest(e: &reqwest::Error) -> Self {
        let exit = if e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() {
            Exit::Unavailable
        } else {
            Exit::Failure
        };
        let what = if exit == Exit::Unavailable {
            "server unreachable"
        } else {
            "request failed"
        };
        Self::new(exit, format!("{what}: {}", innermost(e)))
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        use tonic::Code as C;
        let reason = status
            .get_error_details()
            .error_info()
            .map(|i| i.reason.clone());
        let exit = match status.code() {
            C::NotFound => Exit::NotFound,
            C::Unauthenticated | C::PermissionDenied => Exit::Auth,
            C::InvalidArgument | C::FailedPrecondition | C::OutOfRange => Exit::Invalid,
            C::AlreadyExists | C::Aborted => Exit::Conflict,
            C::Unavailable | C::DeadlineExceeded | C::ResourceExhausted => Exit::Unavailable,
            _ => Exit::Failure,
        };
        let mut message = status.message().to_owned();
        if message.is_empty() || (status.code() == C::Unavailable && reason.is_none()) {
            // A transport failure: tonic's message alone ("transport error") says too little,
            // the innermost cause ("Connection refused") says what to fix.
            message = format!("server unreachable: {}", innermost(&status));
        }
        Self {
            exit,
            reason: reason.or_else(|| (status.code() == C::Aborted).then(|| "ABORTED".into())),
            message,
        }
    }
}

/// Returns an error's message followed by its innermost cause, when that differs.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let top = match e.downcast_ref::<tonic::Status>() {
        Some(status) if !status.message().is_empty() => status.message().to_owned(),
        _ => e.to_string(),
    };
    let mut cause = e.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    match last {
        Some(last) if !top.contains(&last) => format!("{top} ({last})"),
        _ => top,
    }
}

impl fmt::Display for ClientError {
    /// Writes `<message> (<REASON>)`, the form the CLI prints after `error: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Some(r) => write!(f, "{} ({r})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ClientError {}
