//! Where the store's SQL meets sqlx's generic database types. A statement is SQL text with its
//! arguments ([`Stmt`], built by [`sql`]); [`Db`] runs it on any sqlx database whose types
//! cover those arguments, and [`Columns`] reads a row's columns by name. The sqlx trait bounds
//! that make this work are written once, on the two blanket impls below, so that the area files
//! are plain code generic over `DB: Dialect` with no bounds of their own.

use std::future::Future;

use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type, query::Query,
};

use super::classify;
use crate::{
    domain::{Digest, Etag, FilePath, Name},
    store::{StoreError, StoreResult},
};

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'q> {
    Int(Option<i64>),
    Text(Option<&'q str>),
    /// Text made for the statement from a typed value (a digest, a version).
    Owned(Option<String>),
    Bool(bool),
}

impl From<u64> for Arg<'_> {
    /// Sizes and counts are stored as `BIGINT`; every size relreg accepts fits.
    fn from(v: u64) -> Self {
        Self::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)))
    }
}

impl From<&Digest> for Arg<'_> {
    fn from(v: &Digest) -> Self {
        Self::Owned(Some(v.to_string()))
    }
}

impl From<Option<&Digest>> for Arg<'_> {
    fn from(v: Option<&Digest>) -> Self {
        Self::Owned(v.map(Digest::to_string))
    }
}

impl From<&semver::Version> for Arg<'_> {
    fn from(v: &semver::Version) -> Self {
        Self::Owned(Some(v.to_string()))
    }
}

impl From<Option<&semver::Version>> for Arg<'_> {
    fn from(v: Option<&semver::Version>) -> Self {
        Self::Owned(v.map(semver::Version::to_string))
    }
}

impl<'q> From<&'q FilePath> for Arg<'q> {
    fn from(v: &'q FilePath) -> Self {
        Self::Text(Some(v.as_str()))
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl<'q> From<&'q str> for Arg<'q> {
    fn from(v: &'q str) -> Self {
        Self::Text(Some(v))
    }
}

impl<'q> From<&'q String> for Arg<'q> {
    fn from(v: &'q String) -> Self {
        Self::Text(Some(v))
    }
}

impl<'q> From<Option<&'q str>> for Arg<'q> {
    fn from(v: Option<&'q str>) -> Self {
        Self::Text(v)
    }
}

impl<'q> From<&'q Name> for Arg<'q> {
    fn from(v: &'q Name) -> Self {
        Self::Text(Some(v.as_str()))
    }
}

impl<'q> From<Option<&'q Name>> for Arg<'q> {
    fn from(v: Option<&'q Name>) -> Self {
        Self::Text(v.map(Name::as_str))
    }
}

impl<'q> From<&'q Etag> for Arg<'q> {
    fn from(v: &'q Etag) -> Self {
        Self::Text(Some(v.as_str()))
    }
}

impl<'q> From<Option<&'q Etag>> for Arg<'q> {
    fn from(v: Option<&'q Etag>) -> Self {
        Self::Text(v.map(Etag::as_str))
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

/// A statement: SQL text (with `$1`, `$2`, … placeholders) and its arguments in order.
#[derive(Debug, Clone)]
pub(crate) struct Stmt<'q> {
    text: &'q str,
    args: Vec<Arg<'q>>,
}

/// Starts a statement.
pub(crate) fn sql(text: &str) -> Stmt<'_> {
    Stmt {
        text,
        args: Vec::with_capacity(8),
    }
}

impl<'q> Stmt<'q> {
    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, arg: impl Into<Arg<'q>>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Binds the next placeholders, one per value (see [`placeholders`]).
    pub(crate) fn bind_all(mut self, args: impl IntoIterator<Item = &'q str>) -> Self {
        self.args.extend(args.into_iter().map(Arg::from));
        self
    }
}

/// Returns the stored names of `states`, to bind to an `IN (…)` list.
pub(crate) fn names<'q, S: Copy + Into<&'static str>>(
    states: &'q [S],
) -> impl Iterator<Item = &'q str> + 'q {
    states.iter().map(|s| -> &'q str { (*s).into() })
}

/// Returns `$first, $first+1, …` for `n` values bound in a row, to write `IN (…)` lists.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A database the store's statements run on: every sqlx database whose types cover [`Arg`]
/// and whose rows can be read through [`Columns`] (SQLite and PostgreSQL).
pub(crate) trait Db: Database<Row: Columns> {
    /// Runs a statement that returns no rows.
    fn run<'e>(
        conn: &'e mut Self::Connection,
        stmt: Stmt<'e>,
    ) -> impl Future<Output = StoreResult<Self::QueryResult>> + Send + 'e;

    /// Runs a query and returns every row.
    fn all<'e>(
        conn: &'e mut Self::Connection,
        stmt: Stmt<'e>,
    ) -> impl Future<Output = StoreResult<Vec<Self::Row>>> + Send + 'e;

    /// Runs a query and returns its first row, if any.
    fn optional<'e>(
        conn: &'e mut Self::Connection,
        stmt: Stmt<'e>,
    ) -> impl Future<Output = StoreResult<Option<Self::Row>>> + Send + 'e;
}

impl<DB> Db for DB
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    fn run<'e>(
        conn: &'e mut DB::Connection,
        stmt: Stmt<'e>,
    ) -> impl Future<Output = StoreResult<DB::QueryResult>> + Send + 'e {
        let query = prepare::<DB>(stmt);
        async move { query.execute(conn).await.map_err(classify) }
    }

    fn all<'e>(
        conn: &'e mut DB::Connection,
        stmt: Stmt<'e>,
    ) -> impl Future<Output = StoreResult<Vec<DB::Row>>> + Send + 'e {
        let query = prepare::<DB>(stmt);
        async move { query.fetch_all(conn).await.map_err(classify) }
    }

    fn optional<'e>(
        conn: &'e mut DB::Connection,
        stmt: Stmt<'e>,
    ) -> impl Future<Output = StoreResult<Option<DB::Row>>> + Send + 'e {
        let query = prepare::<DB>(stmt);
        async move { query.fetch_optional(conn).await.map_err(classify) }
    }
}

/// Binds a statement's arguments to a sqlx query.
fn prepare<'q, DB>(stmt: Stmt<'q>) -> Query<'q, DB, DB::Arguments<'q>>
where
    DB: Database,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
{
    stmt.args
        .into_iter()
        .fold(sqlx::query(stmt.text), |q, arg| match arg {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::Owned(v) => q.bind(v),
            Arg::Bool(v) => q.bind(v),
        })
}

/// Reads a row's columns by name, mapping decode failures to store errors.
pub(crate) trait Columns {
    /// Reads a non-null integer.
    fn int(&self, column: &str) -> StoreResult<i64>;
    /// Reads a nullable integer.
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    /// Reads non-null text.
    fn text(&self, column: &str) -> StoreResult<String>;
    /// Reads nullable text.
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    /// Reads a boolean.
    fn flag(&self, column: &str) -> StoreResult<bool>;

    /// Reads a name column of the row `what` (named in the error if it no longer parses).
    fn name(&self, what: &dyn std::fmt::Display, column: &str) -> StoreResult<Name> {
        parsed(what, column, &self.text(column)?, |t| {
            Name::parse(column, t)
        })
    }

    /// Reads a `sha256:<hex>` column.
    fn digest(&self, what: &dyn std::fmt::Display, column: &str) -> StoreResult<Digest> {
        parsed(what, column, &self.text(column)?, |t| {
            Digest::parse(column, t)
        })
    }

    /// Reads a nullable `sha256:<hex>` column.
    fn opt_digest(
        &self,
        what: &dyn std::fmt::Display,
        column: &str,
    ) -> StoreResult<Option<Digest>> {
        self.opt_text(column)?
            .map(|t| parsed(what, column, &t, |t| Digest::parse(column, t)))
            .transpose()
    }

    /// Reads a semver version column.
    fn version(&self, what: &dyn std::fmt::Display, column: &str) -> StoreResult<semver::Version> {
        parsed(what, column, &self.text(column)?, |t| {
            crate::domain::parse_semver(column, t)
        })
    }

    /// Reads a file path column.
    fn path(&self, what: &dyn std::fmt::Display, column: &str) -> StoreResult<FilePath> {
        parsed(what, column, &self.text(column)?, |t| {
            FilePath::parse(column, t)
        })
    }

    /// Reads a size in bytes (stored as a non-negative `BIGINT`).
    fn size(&self, what: &dyn std::fmt::Display, column: &str) -> StoreResult<u64> {
        let v = self.int(column)?;
        u64::try_from(v).map_err(|_| {
            StoreError::Internal(format!("stored {column} of {what} is negative ({v})"))
        })
    }
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, column: &str) -> StoreResult<i64> {
        self.try_get(column).map_err(classify)
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        self.try_get(column).map_err(classify)
    }

    fn text(&self, column: &str) -> StoreResult<String> {
        self.try_get(column).map_err(classify)
    }

    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.try_get(column).map_err(classify)
    }

    fn flag(&self, column: &str) -> StoreResult<bool> {
        self.try_get(column).map_err(classify)
    }
}

/// Parses a stored value into its domain type: a value that no longer parses is an internal
/// error naming the row (`what`, e.g. `release rel_…`) and the column, never a default.
pub(crate) fn parsed<T>(
    what: &dyn std::fmt::Display,
    column: &str,
    text: &str,
    parse: impl FnOnce(&str) -> crate::domain::Result<T>,
) -> StoreResult<T> {
    parse(text).map_err(|e| {
        StoreError::Internal(format!(
            "stored {column} of {what} no longer parses ({text:?}): {}",
            e.message
        ))
    })
}
