//! `relreg audit` and `relreg token …`. Token secrets are shown once, when created; the
//! offline `token bootstrap` lives with the server commands.

use crate::{
    client::{ClientError, ClientResult, Connection},
    pb,
};

use super::{
    output::{Out, next_page, short},
    serve::BootstrapArgs,
};

/// `relreg audit`: filters as `ListAuditEvents` has them.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Only events of this repo.
    #[arg(long, default_value = "")]
    repo: String,
    /// Only this action (`version.published`, …).
    #[arg(long, default_value = "")]
    action: String,
    /// Only events of this actor (a token id, or `local`).
    #[arg(long, default_value = "")]
    actor: String,
    /// Only events at or after this time (RFC 3339, e.g. 2026-01-31T12:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Events per page (server default when 0).
    #[arg(long, default_value_t = 0)]
    page_size: i32,
    /// The page to continue from.
    #[arg(long, default_value = "")]
    page_token: String,
}

/// Token commands.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Creates a token through the server; prints its secret (once) as the last line.
    Create {
        /// The role: reader, publisher or admin.
        #[arg(long)]
        role: String,
        /// Limit the token to one repo.
        #[arg(long, default_value = "")]
        repo: String,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// When it stops working (RFC 3339).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Lists tokens (never their secrets).
    List {
        /// Only tokens of this repo.
        #[arg(long, default_value = "")]
        repo: String,
        /// Tokens per page (server default when 0).
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// The page to continue from.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Revokes a token.
    Revoke {
        /// The token id.
        id: String,
    },
    /// Creates a token directly in the database, no server needed: the first admin token
    /// of a fresh install. Prints its secret as the last line.
    Bootstrap(BootstrapArgs),
}

fn timestamp(flag: &str, text: &str) -> ClientResult<prost_types::Timestamp> {
    pb::from_json(
        "google.protobuf.Timestamp",
        serde_json::Value::String(text.into()),
    )
    .map_err(|e| ClientError::usage(format!("{flag} {text:?} is not an RFC 3339 time: {e}")))
}

fn role(text: &str) -> ClientResult<pb::Role> {
    match text.to_ascii_lowercase().as_str() {
        "reader" => Ok(pb::Role::Reader),
        "publisher" => Ok(pb::Role::Publisher),
        "admin" => Ok(pb::Role::Admin),
        _ => Err(ClientError::usage(format!(
            "--role {text:?} is not reader, publisher or admin"
        ))),
    }
}

fn token_text(t: &pb::Token) -> String {
    let role = pb::Role::try_from(t.role).map_or_else(
        |_| t.role.to_string(),
        |r| short(r.as_str_name(), "ROLE_").to_lowercase(),
    );
    let scope = if t.repo.is_empty() {
        "all repos".to_owned()
    } else {
        format!("repo {}", t.repo)
    };
    let revoked = if t.revoke_time.is_some() {
        " (revoked)"
    } else {
        ""
    };
    format!("{} {} ({role}, {scope}){revoked}", t.id, t.name)
}

/// Lists audit events.
pub(super) async fn audit(args: AuditArgs, conn: Connection, out: &Out) -> ClientResult<()> {
    let request = pb::ListAuditEventsRequest {
        repo: args.repo,
        action: args.action,
        actor: args.actor,
        start_time: args.since.map(|t| timestamp("--since", &t)).transpose()?,
        end_time: args.until.map(|t| timestamp("--until", &t)).transpose()?,
        page_size: args.page_size,
        page_token: args.page_token,
    };
    let answer = conn.admin().list_audit_events(request).await?.into_inner();
    out.answer("ListAuditEventsResponse", &answer, |a| {
        let mut text = a
            .events
            .iter()
            .map(|e| {
                let time = e
                    .time
                    .as_ref()
                    .and_then(|t| pb::to_json_value("google.protobuf.Timestamp", t))
                    .unwrap_or_default();
                format!("{time} {} {} {} {}", e.actor, e.action, e.repo, e.target)
            })
            .collect::<Vec<_>>()
            .join("\n");
        text.push_str(&next_page(&a.next_page_token));
        text
    })
}

/// Runs a token command that goes through the server.
pub(super) async fn run_token(
    command: TokenCommand,
    conn: Connection,
    out: &Out,
) -> ClientResult<()> {
    let mut admin = conn.admin();
    match command {
        TokenCommand::Create {
            role: r,
            repo,
            name,
            expires,
        } => {
            let answer = admin
                .create_token(pb::CreateTokenRequest {
                    name,
                    repo,
                    role: role(&r)?.into(),
                    expire_time: expires.map(|t| timestamp("--expires", &t)).transpose()?,
                })
                .await?
                .into_inner();
            out.answer("CreateTokenResponse", &answer, |a| {
                let token = a.token.as_ref().map(token_text).unwrap_or_default();
                format!("created token {token}\n{}", a.secret)
            })
        }
        TokenCommand::List {
            repo,
            page_size,
            page_token,
        } => {
            let answer = admin
                .list_tokens(pb::ListTokensRequest {
                    repo,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            out.answer("ListTokensResponse", &answer, |a| {
                let mut text = a
                    .tokens
                    .iter()
                    .map(token_text)
                    .collect::<Vec<_>>()
                    .join("\n");
                text.push_str(&next_page(&a.next_page_token));
                text
            })
        }
        TokenCommand::Revoke { id } => {
            let answer = admin
                .revoke_token(pb::RevokeTokenRequest { id })
                .await?
                .into_inner();
            out.answer("RevokeTokenResponse", &answer, |a| {
                format!(
                    "revoked {}",
                    a.token.as_ref().map(token_text).unwrap_or_default()
                )
            })
        }
        TokenCommand::Bootstrap(_) => Err(ClientError::internal("bootstrap runs offline")),
    }
}
