//! The SQL both backends share. Every query here is portable (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT`), so it is written once and instantiated per backend by `impl_sql_store!`
//! with the backend's concrete sqlx types; what differs (connecting, starting a write
//! transaction, migrations, triggers) stays in `sqlite.rs` and `postgres.rs`.

use super::StoreError;

/// Maps a driver error to a store error with portable checks (no constraint names).
pub(super) fn classify(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        // SQLSTATE classes 08 (connection), 53 (insufficient resources), 55 (prerequisite state,
        // e.g. a database not accepting connections) and 57 (operator intervention, e.g. a
        // shutting-down server): the database is not answering.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.len() == 5 && ["08", "53", "55", "57"].contains(&&c[..2])) =>
        {
            StoreError::Unavailable(db.to_string())
        }
        e @ (sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Internal(other.to_string()),
    }
}

pub(super) const VERSION_COLUMNS: &str = "seq, repo, package, version, state, etag, content_digest, manifest, \
     deprecation_reason, replacement, yank_reason, created_at, updated_at, published_at";

pub(super) const TOKEN_COLUMNS: &str = "id, name, repo, role, created_at, expires_at, revoked_at";

pub(super) const RELEASE_COLUMNS: &str = "seq, id, repo, channel, version, sort_key, state, etag, \
     min_app_version, max_app_version, platforms, notes, mandatory, sequence, deprecation_reason, \
     replacement, created_at, updated_at, published_at";

pub(super) const AUDIT_COLUMNS: &str = "id, at, actor, action, repo, target, details, request_id";

/// The query behind `Store::latest_candidates`: `$1` repo, `$2` channel, `$3` limit and, when
/// `paged`, `$4` the sort key to continue below. Two texts rather than
/// `($4 IS NULL OR sort_key < $4)`: only a plain bound lets the index range start at the page
/// key instead of rescanning from the top. Public so that the benchmark explains this exact text.
pub fn latest_candidates_sql(paged: bool) -> &'static str {
    static TEXTS: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
        [false, true].map(|paged| {
            let below = if paged { "AND sort_key < $4 " } else { "" };
            format!(
                "SELECT {RELEASE_COLUMNS} FROM releases WHERE repo = $1 AND channel = $2 \
                 AND state = 'PUBLISHED' {below}ORDER BY sort_key DESC LIMIT $3"
            )
        })
    });
    &TEXTS[usize::from(paged)]
}

/// Implements `Store` for `$store`, whose `pool` field is a `sqlx::Pool<$db>` and which has
/// an inherent `begin_write` starting a write transaction.
macro_rules! impl_sql_store {
    ($store:ident, $db:ident) => {
        mod imp {
        use super::$store;
        use async_trait::async_trait;
        use sqlx::Row as _;

        use crate::domain::{
            Artifact, AuditEvent, AuditFilter, AuditRecord, BlobInfo, Compatibility, OutboxEvent,
            Package, ReleaseRecord, Repo, Token, TokenScope, VersionFile, VersionKey,
            VersionRecord, VersionState,
        };
        use crate::store::{
            sql::{classify, latest_candidates_sql, AUDIT_COLUMNS, RELEASE_COLUMNS, TOKEN_COLUMNS, VERSION_COLUMNS},
            ChannelRecords, DraftEdit, Guard, NewEvent, Outcome, ReleaseEdit, Rollback, Store,
            StoreResult, Transition,
        };

        type Conn = <sqlx::$db as sqlx::Database>::Connection;
        type DbRow = <sqlx::$db as sqlx::Database>::Row;

        fn version_from_row(row: &DbRow) -> Result<VersionRecord, sqlx::Error> {
            let state: String = row.try_get("state")?;
            Ok(VersionRecord {
                key: VersionKey {
                    repo: row.try_get("repo")?,
                    package: row.try_get("package")?,
                    version: row.try_get("version")?,
                },
                seq: row.try_get("seq")?,
                state: state.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                etag: row.try_get("etag")?,
                content_digest: row.try_get("content_digest")?,
                manifest: row.try_get("manifest")?,
                files: Vec::new(),
                deprecation_reason: row.try_get("deprecation_reason")?,
                replacement: row.try_get("replacement")?,
                yank_reason: row.try_get("yank_reason")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                published_at: row.try_get("published_at")?,
            })
        }

        fn token_from_row(row: &DbRow) -> Result<Token, sqlx::Error> {
            let repo: Option<String> = row.try_get("repo")?;
            let role: String = row.try_get("role")?;
            Ok(Token {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                scope: repo.map_or(TokenScope::AllRepos, TokenScope::Repo),
                role: role.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn release_from_row(row: &DbRow) -> Result<ReleaseRecord, sqlx::Error> {
            let state: String = row.try_get("state")?;
            let platforms: String = row.try_get("platforms")?;
            Ok(ReleaseRecord {
                id: row.try_get("id")?,
                seq: row.try_get("seq")?,
                repo: row.try_get("repo")?,
                channel: row.try_get("channel")?,
                version: row.try_get("version")?,
                state: state.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                etag: row.try_get("etag")?,
                compatibility: Compatibility {
                    min_app_version: row.try_get("min_app_version")?,
                    max_app_version: row.try_get("max_app_version")?,
                    platforms: platforms.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
                },
                notes: row.try_get("notes")?,
                mandatory: row.try_get("mandatory")?,
                sequence: row.try_get("sequence")?,
                deprecation_reason: row.try_get("deprecation_reason")?,
                replacement: row.try_get("replacement")?,
                artifacts: Vec::new(),
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                published_at: row.try_get("published_at")?,
            })
        }

        /// Takes the channel's next sequence (creating the channel at 1).
        async fn next_sequence(conn: &mut Conn, repo: &str, channel: &str) -> StoreResult<i64> {
            let row = sqlx::query(
                "INSERT INTO channels (repo, channel, last_sequence) VALUES ($1, $2, 1) \
                 ON CONFLICT (repo, channel) DO UPDATE SET last_sequence = channels.last_sequence + 1 \
                 RETURNING last_sequence",
            )
            .bind(repo)
            .bind(channel)
            .fetch_one(conn)
            .await
            .map_err(classify)?;
            row.try_get::<i64, _>(0).map_err(classify)
        }

        /// Commits an edit that changed `affected` rows, with its audit record; an edit that
        /// changed nothing is rolled back as `Missing`.
        async fn finish_edit(
            mut tx: sqlx::Transaction<'static, sqlx::$db>,
            affected: u64,
            audit: &AuditRecord,
        ) -> StoreResult<Outcome> {
            if affected == 0 {
                tx.rollback().await.map_err(classify)?;
                return Ok(Outcome::Missing);
            }
            write_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(classify)?;
            Ok(Outcome::Applied)
        }

        /// Finishes a change of a channel: takes its next sequence (stamping it on a just
        /// published release), writes the audit record and outbox event, commits.
        async fn commit_channel_change(
            mut tx: sqlx::Transaction<'static, sqlx::$db>,
            (repo, channel): (&str, &str),
            published: Option<&str>,
            at: i64,
            records: ChannelRecords<'_>,
        ) -> StoreResult<i64> {
            let sequence = next_sequence(&mut tx, repo, channel).await?;
            if let Some(id) = published {
                sqlx::query("UPDATE releases SET sequence = $1 WHERE id = $2")
                    .bind(sequence)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            let (audit, event) = records(sequence);
            write_audit(&mut tx, &audit).await?;
            write_event(&mut tx, at, &event).await?;
            tx.commit().await.map_err(classify)?;
            Ok(sequence)
        }

        /// Reads the `repo` and `channel` a statement returned.
        fn channel_of(row: &DbRow) -> StoreResult<(String, String)> {
            Ok((row.try_get("repo").map_err(classify)?, row.try_get("channel").map_err(classify)?))
        }

        fn repo_from_row(row: &DbRow) -> Result<Repo, sqlx::Error> {
            Ok(Repo {
                key: row.try_get("key")?,
                public: row.try_get("public")?,
                display_name: row.try_get("display_name")?,
                created_at: row.try_get("created_at")?,
                policy: row.try_get("policy")?,
            })
        }

        fn package_from_row(row: &DbRow) -> Result<Package, sqlx::Error> {
            Ok(Package {
                repo: row.try_get("repo")?,
                name: row.try_get("name")?,
                kind: row.try_get("kind")?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn states_sql(states: &[VersionState]) -> String {
            let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
            list.join(", ")
        }

        async fn write_audit(conn: &mut Conn, a: &AuditRecord) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, repo, target, details, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(a.at)
            .bind(&a.actor)
            .bind(&a.action)
            .bind(&a.repo)
            .bind(&a.target)
            .bind(&a.details)
            .bind(&a.request_id)
            .execute(conn)
            .await
            .map_err(classify)?;
            Ok(())
        }

        async fn write_event(conn: &mut Conn, at: i64, e: &NewEvent) -> StoreResult<()> {
            sqlx::query("INSERT INTO outbox (at, topic, repo, payload) VALUES ($1, $2, $3, $4)")
                .bind(at)
                .bind(&e.topic)
                .bind(&e.repo)
                .bind(&e.payload)
                .execute(conn)
                .await
                .map_err(classify)?;
            Ok(())
        }

        /// Takes the guard as a conditional write: bumps `updated_at` (and the etag when given)
        /// only if the version is in an allowed state with the expected etag. Returns its seq.
        async fn claim(
            conn: &mut Conn,
            guard: &Guard<'_>,
            new_etag: Option<&str>,
            at: i64,
        ) -> StoreResult<Option<i64>> {
            let sql = format!(
                "UPDATE versions SET updated_at = $1, etag = COALESCE($2, etag) \
                 WHERE repo = $3 AND package = $4 AND version = $5 AND state IN ({}) \
                 AND ($6 IS NULL OR etag = $6) RETURNING seq",
                states_sql(guard.states)
            );
            let row = sqlx::query(&sql)
                .bind(at)
                .bind(new_etag)
                .bind(&guard.key.repo)
                .bind(&guard.key.package)
                .bind(&guard.key.version)
                .bind(guard.etag)
                .fetch_optional(conn)
                .await
                .map_err(classify)?;
            row.map(|r| r.try_get::<i64, _>(0)).transpose().map_err(classify)
        }

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(classify)?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn create_repo(&self, repo: &Repo, audit: &AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO repos (key, public, display_name, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&repo.key)
                .bind(repo.public)
                .bind(&repo.display_name)
                .bind(repo.created_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)
            }

            async fn get_repo(&self, key: &str) -> StoreResult<Option<Repo>> {
                let row = sqlx::query(
                    "SELECT key, public, display_name, created_at, policy FROM repos WHERE key = $1",
                )
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
                row.as_ref().map(repo_from_row).transpose().map_err(classify)
            }

            async fn list_repos(
                &self,
                all: bool,
                also: Option<&str>,
                after: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<Repo>> {
                let rows = sqlx::query(
                    "SELECT key, public, display_name, created_at, policy FROM repos \
                     WHERE ($1 OR public OR key = $2) AND ($3 IS NULL OR key > $3) ORDER BY key LIMIT $4",
                )
                .bind(all)
                .bind(also)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                rows.iter().map(repo_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn set_repo_policy(&self, repo: &str, policy: &str, audit: &AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query("UPDATE repos SET policy = $1 WHERE key = $2")
                    .bind(policy)
                    .bind(repo)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                if changed == 0 {
                    return Err(crate::store::StoreError::NotFound);
                }
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)
            }

            async fn create_release(&self, r: &ReleaseRecord, audit: &AuditRecord) -> StoreResult<ReleaseRecord> {
                let mut tx = self.begin_write().await?;
                let version = semver::Version::parse(&r.version)
                    .map_err(|e| crate::store::StoreError::Internal(e.to_string()))?;
                let sql = format!(
                    "INSERT INTO releases (id, repo, channel, version, sort_key, state, etag, min_app_version, \
                     max_app_version, platforms, notes, mandatory, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'DRAFT', $6, $7, $8, $9, $10, $11, $12, $12) RETURNING {RELEASE_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(&r.id)
                    .bind(&r.repo)
                    .bind(&r.channel)
                    .bind(&r.version)
                    .bind(crate::domain::sort_key(&version))
                    .bind(&r.etag)
                    .bind(&r.compatibility.min_app_version)
                    .bind(&r.compatibility.max_app_version)
                    .bind(r.compatibility.platforms.join(","))
                    .bind(&r.notes)
                    .bind(r.mandatory)
                    .bind(r.created_at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                let record = release_from_row(&row).map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)?;
                Ok(record)
            }

            async fn get_release(&self, id: &str) -> StoreResult<Option<ReleaseRecord>> {
                let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = $1");
                let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(classify)? else {
                    return Ok(None);
                };
                let mut record = release_from_row(&row).map_err(classify)?;
                let rows = sqlx::query(
                    "SELECT role, package, version FROM release_artifacts WHERE release_seq = $1 ORDER BY role",
                )
                .bind(record.seq)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                record.artifacts = rows
                    .iter()
                    .map(|r| Ok(Artifact { role: r.try_get("role")?, package: r.try_get("package")?, version: r.try_get("version")? }))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)?;
                Ok(Some(record))
            }

            async fn list_releases(
                &self,
                repo: &str,
                channel: Option<&str>,
                include_drafts: bool,
                after_seq: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<ReleaseRecord>> {
                let sql = format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases WHERE repo = $1 AND ($2 IS NULL OR channel = $2) \
                     AND ($3 OR state <> 'DRAFT') AND ($4 IS NULL OR seq > $4) ORDER BY seq LIMIT $5"
                );
                let rows = sqlx::query(&sql)
                    .bind(repo)
                    .bind(channel)
                    .bind(include_drafts)
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter().map(release_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn edit_release(
                &self,
                id: &str,
                etag: Option<&str>,
                new_etag: &str,
                at: i64,
                edit: &ReleaseEdit,
                audit: &AuditRecord,
            ) -> StoreResult<Outcome> {
                let mut tx = self.begin_write().await?;
                let claimed = sqlx::query(
                    "UPDATE releases SET etag = $1, updated_at = $2 WHERE id = $3 AND state = 'DRAFT' \
                     AND ($4 IS NULL OR etag = $4) RETURNING seq",
                )
                .bind(new_etag)
                .bind(at)
                .bind(id)
                .bind(etag)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
                let Some(row) = claimed else {
                    return Ok(Outcome::GuardFailed);
                };
                let seq: i64 = row.try_get(0).map_err(classify)?;
                let affected = match edit {
                    ReleaseEdit::Attach(a) => sqlx::query(
                        "INSERT INTO release_artifacts (release_seq, role, package, version) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (release_seq, role) DO UPDATE SET package = excluded.package, version = excluded.version",
                    )
                    .bind(seq)
                    .bind(&a.role)
                    .bind(&a.package)
                    .bind(&a.version),
                    ReleaseEdit::Detach(role) => {
                        sqlx::query("DELETE FROM release_artifacts WHERE release_seq = $1 AND role = $2").bind(seq).bind(role)
                    }
                }
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
                finish_edit(tx, affected, audit).await
            }

            async fn publish_release(
                &self,
                id: &str,
                etag: &str,
                at: i64,
                records: ChannelRecords<'_>,
            ) -> StoreResult<Option<i64>> {
                let mut tx = self.begin_write().await?;
                // Validation's artifact rule again, inside the flip: no attached version may be
                // missing, a draft or yanked at the moment of publishing.
                let flipped = sqlx::query(
                    "UPDATE releases SET state = 'PUBLISHED', published_at = $1, updated_at = $1 \
                     WHERE id = $2 AND state = 'DRAFT' AND etag = $3 AND NOT EXISTS ( \
                       SELECT 1 FROM release_artifacts a LEFT JOIN versions v \
                         ON v.repo = releases.repo AND v.package = a.package AND v.version = a.version \
                       WHERE a.release_seq = releases.seq \
                         AND (v.state IS NULL OR v.state NOT IN ('PUBLISHED', 'DEPRECATED'))) \
                     RETURNING repo, channel",
                )
                .bind(at)
                .bind(id)
                .bind(etag)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
                let Some(row) = flipped else {
                    return Ok(None);
                };
                let (repo, channel) = channel_of(&row)?;
                let sequence = commit_channel_change(tx, (&repo, &channel), Some(id), at, records).await?;
                Ok(Some(sequence))
            }

            async fn deprecate_release(
                &self,
                id: &str,
                reason: &str,
                replacement: &str,
                at: i64,
                records: ChannelRecords<'_>,
            ) -> StoreResult<Option<i64>> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE releases SET state = 'DEPRECATED', deprecation_reason = $1, replacement = $2, \
                     updated_at = $3 WHERE id = $4 AND state = 'PUBLISHED' RETURNING repo, channel",
                )
                .bind(reason)
                .bind(replacement)
                .bind(at)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
                let Some(row) = changed else {
                    return Ok(None);
                };
                let (repo, channel) = channel_of(&row)?;
                let sequence = commit_channel_change(tx, (&repo, &channel), None, at, records).await?;
                Ok(Some(sequence))
            }

            async fn rollback_channel(
                &self,
                target: &ReleaseRecord,
                reason: &str,
                at: i64,
                records: ChannelRecords<'_>,
            ) -> StoreResult<Option<Rollback>> {
                let mut tx = self.begin_write().await?;
                // Locks the target and proves it is still published.
                let held = sqlx::query("UPDATE releases SET updated_at = updated_at WHERE id = $1 AND state = 'PUBLISHED'")
                    .bind(&target.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                if held == 0 {
                    return Ok(None);
                }
                let rows = sqlx::query(
                    "UPDATE releases SET state = 'DEPRECATED', deprecation_reason = $1, replacement = $2, updated_at = $3 \
                     WHERE repo = $4 AND channel = $5 AND state = 'PUBLISHED' \
                     AND sort_key > (SELECT sort_key FROM releases WHERE id = $2) RETURNING id",
                )
                .bind(reason)
                .bind(&target.id)
                .bind(at)
                .bind(&target.repo)
                .bind(&target.channel)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                let mut deprecated = rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<Vec<_>, _>>().map_err(classify)?;
                deprecated.sort();
                if deprecated.is_empty() {
                    tx.rollback().await.map_err(classify)?;
                    return Ok(Some(Rollback { sequence: None, deprecated }));
                }
                let channel = (target.repo.as_str(), target.channel.as_str());
                let sequence = commit_channel_change(tx, channel, None, at, records).await?;
                Ok(Some(Rollback { sequence: Some(sequence), deprecated }))
            }

            async fn latest_candidates(
                &self,
                repo: &str,
                channel: &str,
                before_key: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<(String, ReleaseRecord)>> {
                let sql = latest_candidates_sql(before_key.is_some());
                let mut query = sqlx::query(sql).bind(repo).bind(channel).bind(limit);
                if let Some(key) = before_key {
                    query = query.bind(key);
                }
                let rows = query.fetch_all(&self.pool).await.map_err(classify)?;
                rows.iter()
                    .map(|r| Ok((r.try_get::<String, _>("sort_key")?, release_from_row(r)?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)
            }

            async fn create_package(&self, p: &Package, audit: &AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO packages (repo, name, kind, description, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&p.repo)
                .bind(&p.name)
                .bind(&p.kind)
                .bind(&p.description)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)
            }

            async fn get_package(&self, repo: &str, name: &str) -> StoreResult<Option<Package>> {
                let row = sqlx::query(
                    "SELECT repo, name, kind, description, created_at FROM packages \
                     WHERE repo = $1 AND name = $2",
                )
                .bind(repo)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
                row.as_ref().map(package_from_row).transpose().map_err(classify)
            }

            async fn list_packages(
                &self,
                repo: &str,
                after: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<Package>> {
                let rows = sqlx::query(
                    "SELECT repo, name, kind, description, created_at FROM packages \
                     WHERE repo = $1 AND ($2 IS NULL OR name > $2) ORDER BY name LIMIT $3",
                )
                .bind(repo)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                rows.iter().map(package_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn create_version(
                &self,
                key: &VersionKey,
                etag: &str,
                at: i64,
                audit: &AuditRecord,
            ) -> StoreResult<VersionRecord> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "INSERT INTO versions (repo, package, version, state, etag, manifest, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'DRAFT', $4, '{{}}', $5, $5) RETURNING {VERSION_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(&key.repo)
                    .bind(&key.package)
                    .bind(&key.version)
                    .bind(etag)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                let record = version_from_row(&row).map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)?;
                Ok(record)
            }

            async fn get_version(&self, key: &VersionKey) -> StoreResult<Option<VersionRecord>> {
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND package = $2 AND version = $3"
                );
                let Some(row) = sqlx::query(&sql)
                    .bind(&key.repo)
                    .bind(&key.package)
                    .bind(&key.version)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?
                else {
                    return Ok(None);
                };
                let mut record = version_from_row(&row).map_err(classify)?;
                let files = sqlx::query(
                    "SELECT path, digest, size, media_type FROM version_files \
                     WHERE version_seq = $1 ORDER BY path",
                )
                .bind(record.seq)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                record.files = files
                    .iter()
                    .map(|r| {
                        Ok(VersionFile {
                            path: r.try_get("path")?,
                            digest: r.try_get("digest")?,
                            size: r.try_get("size")?,
                            media_type: r.try_get("media_type")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)?;
                Ok(Some(record))
            }

            async fn list_versions(
                &self,
                repo: &str,
                package: &str,
                after_seq: Option<i64>,
                limit: i64,
                include_drafts: bool,
            ) -> StoreResult<Vec<VersionRecord>> {
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND package = $2 \
                     AND ($3 IS NULL OR seq > $3) AND ($4 OR state <> 'DRAFT') ORDER BY seq LIMIT $5"
                );
                let rows = sqlx::query(&sql)
                    .bind(repo)
                    .bind(package)
                    .bind(after_seq)
                    .bind(include_drafts)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter().map(version_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn released_versions(
                &self,
                repo: &str,
                package: &str,
            ) -> StoreResult<Vec<VersionRecord>> {
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND package = $2 \
                     AND state <> 'DRAFT' ORDER BY seq"
                );
                let rows = sqlx::query(&sql)
                    .bind(repo)
                    .bind(package)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter().map(version_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn edit_draft(
                &self,
                guard: Guard<'_>,
                new_etag: &str,
                at: i64,
                edit: &DraftEdit,
                audit: &AuditRecord,
            ) -> StoreResult<Outcome> {
                let mut tx = self.begin_write().await?;
                let Some(seq) = claim(&mut tx, &guard, Some(new_etag), at).await? else {
                    return Ok(Outcome::GuardFailed);
                };
                let affected = match edit {
                    DraftEdit::PutFile(f) => sqlx::query(
                        "INSERT INTO version_files (version_seq, path, digest, size, media_type) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (version_seq, path) DO UPDATE \
                         SET digest = excluded.digest, size = excluded.size, media_type = excluded.media_type",
                    )
                    .bind(seq)
                    .bind(&f.path)
                    .bind(&f.digest)
                    .bind(f.size)
                    .bind(&f.media_type),
                    DraftEdit::DeleteFile(path) => {
                        sqlx::query("DELETE FROM version_files WHERE version_seq = $1 AND path = $2")
                            .bind(seq)
                            .bind(path)
                    }
                    DraftEdit::SetManifest(text) => {
                        sqlx::query("UPDATE versions SET manifest = $2 WHERE seq = $1")
                            .bind(seq)
                            .bind(text)
                    }
                }
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
                finish_edit(tx, affected, audit).await
            }

            async fn transition_version(
                &self,
                guard: Guard<'_>,
                change: &Transition,
                audit: &AuditRecord,
                event: Option<&NewEvent>,
            ) -> StoreResult<Outcome> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "UPDATE versions SET state = $1, updated_at = $2, \
                     content_digest = COALESCE($3, content_digest), \
                     published_at = CASE WHEN $1 = 'PUBLISHED' AND published_at IS NULL THEN $2 ELSE published_at END, \
                     deprecation_reason = COALESCE($4, deprecation_reason), \
                     replacement = COALESCE($5, replacement), \
                     yank_reason = COALESCE($6, yank_reason) \
                     WHERE repo = $7 AND package = $8 AND version = $9 AND state IN ({}) \
                     AND ($10 IS NULL OR etag = $10)",
                    states_sql(guard.states)
                );
                let affected = sqlx::query(&sql)
                    .bind(change.to.as_str())
                    .bind(change.at)
                    .bind(change.content_digest.as_deref())
                    .bind(change.deprecation_reason.as_deref())
                    .bind(change.replacement.as_deref())
                    .bind(change.yank_reason.as_deref())
                    .bind(&guard.key.repo)
                    .bind(&guard.key.package)
                    .bind(&guard.key.version)
                    .bind(guard.etag)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                if affected == 0 {
                    return Ok(Outcome::GuardFailed);
                }
                write_audit(&mut tx, audit).await?;
                if let Some(event) = event {
                    write_event(&mut tx, change.at, event).await?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(Outcome::Applied)
            }

            async fn delete_version(
                &self,
                guard: Guard<'_>,
                audit: &AuditRecord,
            ) -> StoreResult<Outcome> {
                let mut tx = self.begin_write().await?;
                let Some(seq) = claim(&mut tx, &guard, None, audit.at).await? else {
                    return Ok(Outcome::GuardFailed);
                };
                sqlx::query("DELETE FROM versions WHERE seq = $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)?;
                Ok(Outcome::Applied)
            }

            async fn add_blob(
                &self,
                repo: &str,
                blob: &BlobInfo,
                at: i64,
                audit: &AuditRecord,
            ) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (digest) DO NOTHING",
                )
                .bind(&blob.digest)
                .bind(blob.size)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let added = sqlx::query(
                    "INSERT INTO repo_blobs (repo, digest, media_type, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (repo, digest) DO NOTHING",
                )
                .bind(repo)
                .bind(&blob.digest)
                .bind(&blob.media_type)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected()
                    == 1;
                if added {
                    write_audit(&mut tx, audit).await?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(added)
            }

            async fn get_blob(&self, repo: &str, digest: &str) -> StoreResult<Option<BlobInfo>> {
                let row = sqlx::query(
                    "SELECT b.digest, b.size, rb.media_type FROM repo_blobs rb \
                     JOIN blobs b ON b.digest = rb.digest WHERE rb.repo = $1 AND rb.digest = $2",
                )
                .bind(repo)
                .bind(digest)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
                row.map(|r| {
                    Ok(BlobInfo {
                        digest: r.try_get("digest")?,
                        size: r.try_get("size")?,
                        media_type: r.try_get("media_type")?,
                    })
                })
                .transpose()
                .map_err(classify)
            }

            async fn list_audit(
                &self,
                f: &AuditFilter,
                after_id: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<AuditEvent>> {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE ($1 IS NULL OR id > $1) \
                     AND ($2 IS NULL OR repo = $2) AND ($3 IS NULL OR action = $3) \
                     AND ($4 IS NULL OR actor = $4) AND ($5 IS NULL OR at >= $5) \
                     AND ($6 IS NULL OR at < $6) ORDER BY id LIMIT $7"
                );
                let rows = sqlx::query(&sql)
                    .bind(after_id)
                    .bind(f.repo.as_deref())
                    .bind(f.action.as_deref())
                    .bind(f.actor.as_deref())
                    .bind(f.start)
                    .bind(f.end)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter()
                    .map(|r| {
                        Ok(AuditEvent {
                            id: r.try_get("id")?,
                            record: AuditRecord {
                                at: r.try_get("at")?,
                                actor: r.try_get("actor")?,
                                action: r.try_get("action")?,
                                repo: r.try_get("repo")?,
                                target: r.try_get("target")?,
                                details: r.try_get("details")?,
                                request_id: r.try_get("request_id")?,
                            },
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)
            }

            async fn list_outbox(
                &self,
                after_id: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<OutboxEvent>> {
                let rows = sqlx::query(
                    "SELECT id, at, topic, repo, payload FROM outbox \
                     WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                rows.iter()
                    .map(|r| {
                        Ok(OutboxEvent {
                            id: r.try_get("id")?,
                            at: r.try_get("at")?,
                            topic: r.try_get("topic")?,
                            repo: r.try_get("repo")?,
                            payload: r.try_get("payload")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)
            }

            async fn create_token(
                &self,
                t: &Token,
                secret_hash: &str,
                audit: &AuditRecord,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO tokens (id, secret_hash, name, repo, role, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.id)
                .bind(secret_hash)
                .bind(&t.name)
                .bind(t.scope.repo())
                .bind(t.role.as_str())
                .bind(t.created_at)
                .bind(t.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)
            }

            async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<Token>> {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1");
                let row = sqlx::query(&sql)
                    .bind(secret_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?;
                row.as_ref().map(token_from_row).transpose().map_err(classify)
            }

            async fn get_token(&self, id: &str) -> StoreResult<Option<Token>> {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1");
                let row = sqlx::query(&sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?;
                row.as_ref().map(token_from_row).transpose().map_err(classify)
            }

            async fn list_tokens(
                &self,
                repo: Option<&str>,
                after: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<Token>> {
                let sql = format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE ($1 IS NULL OR repo = $1) \
                     AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(repo)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter().map(token_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn revoke_token(&self, id: &str, at: i64, audit: &AuditRecord) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected()
                    == 1;
                if changed {
                    write_audit(&mut tx, audit).await?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(changed)
            }
        }
        }
    };
}

pub(super) use impl_sql_store;
