//! Connection options shared by every client command, and the profiles behind them:
//! `relreg login` stores a server and token under a name, `logout` removes it. Flags and
//! environment variables win over the profile; the token is never printed.

use crate::client::{
    ClientError, ClientResult, Connection, Exit, Profile, Profiles, Secret,
    profile::DEFAULT_PROFILE,
};

use super::output::{Out, OutputFormat};

/// The server used when no flag, variable or profile names one.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Options of every client command.
#[derive(clap::Args, Debug)]
pub struct Global {
    /// The server's URL (default: the profile's, else http://127.0.0.1:8080).
    #[arg(long, global = true, env = "RELREG_SERVER")]
    pub server: Option<String>,
    /// The bearer token (default: the profile's).
    #[arg(long, global = true, env = "RELREG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The stored profile to use (see `relreg login`).
    #[arg(long, global = true, env = "RELREG_PROFILE")]
    pub profile: Option<String>,
    /// How answers are printed.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Prints no progress and no notes (answers and errors still print).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

impl Global {
    pub(super) fn out(&self) -> Out {
        Out {
            json: self.output == OutputFormat::Json,
            quiet: self.quiet,
        }
    }

    fn profile_name(&self) -> &str {
        self.profile.as_deref().unwrap_or(DEFAULT_PROFILE)
    }

    /// Returns the connection the options and the profile describe. A profile named
    /// explicitly must exist; the default one is optional.
    pub fn connect(&self) -> ClientResult<Connection> {
        let stored = match (&self.server, &self.token) {
            (Some(_), Some(_)) if self.profile.is_none() => None,
            _ => {
                let found = Profiles::user()?.load(self.profile_name())?;
                if found.is_none() && self.profile.is_some() {
                    return Err(ClientError::new(
                        Exit::NotFound,
                        format!("no profile {:?} (run relreg login)", self.profile_name()),
                    ));
                }
                found
            }
        };
        let server = self
            .server
            .clone()
            .or_else(|| stored.as_ref().map(|p| p.server.clone()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let token = match &self.token {
            Some(t) if !t.trim().is_empty() => Some(Secret::new(t)),
            _ => stored.and_then(|p| p.token),
        };
        Connection::new(&server, token)
    }
}

/// `relreg login`.
#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Stores the profile without asking the server whether the token works.
    #[arg(long)]
    no_check: bool,
}

/// `relreg logout`.
#[derive(clap::Args, Debug)]
pub struct LogoutArgs {}

/// Stores `--server` and `--token` (or their variables) as the profile `--profile`
/// (default `default`), after checking that the server accepts the token.
pub(super) async fn login(args: LoginArgs, global: &Global, out: &Out) -> ClientResult<()> {
    let server = global
        .server
        .clone()
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let token = global
        .token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(Secret::new)
        .ok_or_else(|| ClientError::usage("pass --token (or set RELREG_TOKEN) to log in"))?;
    let conn = Connection::new(&server, Some(token.clone()))?;
    if !args.no_check {
        // Any authenticated call tells a wrong token (UNAUTHENTICATED) from a working one.
        conn.admin()
            .list_tokens(crate::pb::ListTokensRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .or_else(|status| match status.code() {
                // A reader or publisher token may not list tokens, but it did authenticate.
                tonic::Code::PermissionDenied => Ok(tonic::Response::new(Default::default())),
                _ => Err(ClientError::from(status)),
            })?;
    }
    let name = global.profile_name();
    let path = Profiles::user()?.save(
        name,
        &Profile {
            server: conn.base_url().to_owned(),
            token: Some(token),
        },
    )?;
    if out.json {
        out.json_value(&serde_json::json!({
            "profile": name,
            "server": conn.base_url(),
            "path": path,
        }))
    } else {
        out.line(&format!(
            "logged in to {} as profile {name} ({})",
            conn.base_url(),
            path.display()
        ))
    }
}

/// Removes the profile `--profile` (default `default`).
pub(super) fn logout(_: LogoutArgs, global: &Global, out: &Out) -> ClientResult<()> {
    let name = global.profile_name();
    let removed = Profiles::user()?.remove(name)?;
    if out.json {
        out.json_value(&serde_json::json!({ "profile": name, "removed": removed }))
    } else if removed {
        out.line(&format!("removed profile {name}"))
    } else {
        out.line(&format!("no profile {name}"))
    }
}
