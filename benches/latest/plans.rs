//! The query plans of the exact text cold "latest" runs (`relreg::store::offer_sql()`), with
//! literal values and with bound parameters (on Postgres also the generic plan a cached
//! prepared statement may switch to), each judged: a primary-key search of `channel_offers`
//! and a key lookup of the release, no scan and no sort.

use std::collections::HashMap;

use anyhow::Result;
use relreg::{domain::ANY_PLATFORM, store::offer_sql};
use sqlx::Row as _;

use crate::seeding::{Pool, REPO};

/// A printed plan's title and whether it is index-backed without scan or sort.
pub(crate) type Verdict = (String, bool);

/// The query with literal values in place of its parameters.
fn literal(channel: &str, app_key: &str) -> String {
    offer_sql()
        .replace("$4", &format!("'{app_key}'"))
        .replace("$3", &format!("'{ANY_PLATFORM}'"))
        .replace("$2", &format!("'{channel}'"))
        .replace("$1", &format!("'{REPO}'"))
}

fn print_plan(title: &str, sql: &str, lines: &[String], ok: bool) {
    println!("  -- {title}");
    println!("     {sql}");
    for l in lines {
        println!("     | {l}");
    }
    println!(
        "     => primary-key search of channel_offers, key lookup of releases, no scan, no sort: {}",
        if ok { "yes" } else { "NO" }
    );
}

/// Prints the plans of `offer_sql` for each (label, channel, app key) case.
pub(crate) async fn explain(
    pool: &Pool,
    cases: &[(String, String, String)],
) -> Result<Vec<Verdict>> {
    let mut verdicts = Vec::new();
    match pool {
        Pool::Sqlite(p) => {
            for (label, channel, key) in cases {
                for bound in [false, true] {
                    let (title, sql) = if bound {
                        (
                            format!("EXPLAIN QUERY PLAN, bound parameters: {label}"),
                            offer_sql().to_owned(),
                        )
                    } else {
                        (
                            format!("EXPLAIN QUERY PLAN, literal values: {label}"),
                            literal(channel, key),
                        )
                    };
                    let eqp = format!("EXPLAIN QUERY PLAN {sql}");
                    let mut q = sqlx::query(&eqp);
                    if bound {
                        q = q.bind(REPO).bind(channel).bind(ANY_PLATFORM).bind(key);
                    }
                    let mut depth: HashMap<i64, usize> = HashMap::new();
                    let mut lines = Vec::new();
                    for row in q.fetch_all(p).await? {
                        let (id, parent): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
                        let d = depth.get(&parent).map_or(0, |d| d + 1);
                        depth.insert(id, d);
                        lines.push(format!(
                            "{}{}",
                            "  ".repeat(d),
                            row.try_get::<String, _>(3)?
                        ));
                    }
                    let ok = lines.iter().any(|l| {
                        l.contains("SEARCH o USING PRIMARY KEY")
                            || l.contains("SEARCH o USING INDEX sqlite_autoindex_channel_offers")
                    }) && lines
                        .iter()
                        .any(|l| l.contains("SEARCH r USING") && l.contains("(id=?)"))
                        && !lines.iter().any(|l| {
                            l.contains("TEMP B-TREE") || l.trim_start().starts_with("SCAN")
                        });
                    print_plan(&title, &sql, &lines, ok);
                    verdicts.push((title, ok));
                }
            }
        }
        Pool::Postgres(p) => {
            let mut conn = p.acquire().await?;
            sqlx::raw_sql(&format!(
                "PREPARE bench_offer (text, text, text, text) AS {}",
                offer_sql()
            ))
            .execute(&mut *conn)
            .await?;
            for (label, channel, key) in cases {
                let execute = format!(
                    "EXECUTE bench_offer ('{REPO}', '{channel}', '{ANY_PLATFORM}', '{key}')"
                );
                let runs = [
                    ("literal values", "auto", literal(channel, key)),
                    (
                        "prepared statement, custom plan",
                        "force_custom_plan",
                        execute.clone(),
                    ),
                    (
                        "prepared statement, generic plan (what a cached statement may switch to)",
                        "force_generic_plan",
                        execute,
                    ),
                ];
                for (how, mode, sql) in runs {
                    sqlx::raw_sql(&format!("SET plan_cache_mode = {mode}"))
                        .execute(&mut *conn)
                        .await?;
                    let lines: Vec<String> =
                        sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                            .fetch_all(&mut *conn)
                            .await?;
                    let title = format!("EXPLAIN (ANALYZE, BUFFERS), {how}: {label}");
                    let ok = lines
                        .iter()
                        .any(|l| l.contains("Index") && l.contains("channel_offers_pkey"))
                        && lines
                            .iter()
                            .any(|l| l.contains("Index") && l.contains("releases_id_key"))
                        && !lines.iter().any(|l| {
                            let l = l.trim_start().trim_start_matches("->").trim_start();
                            l.starts_with("Seq Scan")
                                || l.starts_with("Sort")
                                || l.starts_with("Bitmap Heap Scan")
                        });
                    print_plan(&title, &sql, &lines, ok);
                    verdicts.push((title, ok));
                }
            }
            sqlx::raw_sql("RESET plan_cache_mode; DEALLOCATE bench_offer")
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(verdicts)
}
