//! The closed set of error codes every layer speaks; the transport maps each one to a gRPC
//! code and an HTTP status in exactly one place (`api::error`).

use std::fmt;

/// Every way a request can fail, with a stable machine-readable reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed: a bad name, semver, digest, path or manifest.
    InvalidArgument,
    /// The named thing does not exist (or is not visible to the caller's repo).
    NotFound,
    /// The thing exists already and cannot be created again.
    AlreadyExists,
    /// The draft changed since the caller read its etag.
    EtagMismatch,
    /// The version is published: its content can never change.
    VersionImmutable,
    /// Publishing was refused because the content does not pass validation.
    ValidationFailed,
    /// The bytes did not hash to (or did not have the size of) what was declared.
    DigestMismatch,
    /// A blob exceeds the configured size limit.
    BlobTooLarge,
    /// A request message exceeds the size every protocol accepts.
    MessageTooLarge,
    /// The caller's deadline passed before the call finished.
    DeadlineExceeded,
    /// A requested byte range lies outside the blob.
    RangeNotSatisfiable,
    /// The operation does not fit the current state of the thing.
    FailedPrecondition,
    /// Concurrent changes kept winning; trying again may succeed.
    Aborted,
    /// No valid credential was presented.
    Unauthenticated,
    /// The credential is valid but does not allow this.
    PermissionDenied,
    /// A dependency (database, blob store) is not answering.
    Unavailable,
    /// The server sheds load: too many requests in flight; try again shortly.
    Overloaded,
    /// A bug or an unexpected failure; details are logged, never returned.
    Internal,
}

impl ErrorCode {
    /// Every code, for lookups by reason.
    pub const ALL: [Self; 18] = [
        Self::InvalidArgument,
        Self::NotFound,
        Self::AlreadyExists,
        Self::EtagMismatch,
        Self::VersionImmutable,
        Self::ValidationFailed,
        Self::DigestMismatch,
        Self::BlobTooLarge,
        Self::MessageTooLarge,
        Self::DeadlineExceeded,
        Self::RangeNotSatisfiable,
        Self::FailedPrecondition,
        Self::Aborted,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::Unavailable,
        Self::Overloaded,
        Self::Internal,
    ];

    /// Returns the code whose reason this is.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.reason() == reason)
    }

    /// Returns the stable reason carried in `google.rpc.ErrorInfo` and JSON errors.
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::EtagMismatch => "ETAG_MISMATCH",
            Self::VersionImmutable => "VERSION_IMMUTABLE",
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::DigestMismatch => "DIGEST_MISMATCH",
            Self::BlobTooLarge => "BLOB_TOO_LARGE",
            Self::MessageTooLarge => "MESSAGE_TOO_LARGE",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::RangeNotSatisfiable => "RANGE_NOT_SATISFIABLE",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::Aborted => "ABORTED",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Overloaded => "OVERLOADED",
            Self::Internal => "INTERNAL",
        }
    }
}

/// A failed request: a code, a message safe to show the caller and, for bad input, the
/// path of the offending field (e.g. `header.expected_digest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The kind of failure, which decides the gRPC status and HTTP code.
    pub code: ErrorCode,
    /// What went wrong, safe to show the caller; lowercase, no trailing period.
    pub message: String,
    /// The path of the offending request field for bad input (e.g. `header.expected_digest`); `None` otherwise.
    pub field: Option<String>,
    /// Why a precondition failed, one entry per broken rule (e.g. validation findings).
    pub violations: Vec<Violation>,
    /// What really went wrong behind an internal error: logged where the answer is built,
    /// never sent to the caller.
    pub cause: Option<String>,
}

/// One broken rule behind a failed precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule, e.g. `required_roles`.
    pub rule: String,
    /// What it is about, e.g. `artifacts`.
    pub subject: String,
    /// Why the rule is broken, in words for people.
    pub description: String,
}

/// The result type of every fallible domain and registry function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Returns an error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            violations: Vec::new(),
            cause: None,
        }
    }

    /// Returns an INVALID_ARGUMENT error about one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", message.into());
        Self {
            code: ErrorCode::InvalidArgument,
            message,
            field: Some(field),
            violations: Vec::new(),
            cause: None,
        }
    }

    /// Returns a NOT_FOUND error for a described thing.
    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// Returns an INTERNAL error; the cause is logged where the answer is built and never
    /// returned to the caller.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..Self::new(ErrorCode::Internal, "internal error")
        }
    }

    /// Prefixes the field path, so nested conversions report `header.repo`.
    pub fn under(mut self, parent: &str) -> Self {
        if let Some(field) = self.field.take() {
            let full = format!("{parent}.{field}");
            self.message = self.message.replacen(&field, &full, 1);
            self.field = Some(full);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.reason(), self.message)
    }
}

impl std::error::Error for Error {}
