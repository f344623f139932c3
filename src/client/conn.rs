//! One connection to a relreg server: its base URL, an optional bearer token, a lazily
//! connected gRPC channel and an HTTP client for the byte routes (uploads and downloads).

use std::{fmt, str::FromStr as _};

use tonic::{
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use super::error::{ClientError, ClientResult};
use crate::pb::{
    release_admin_client::ReleaseAdminClient, release_catalog_client::ReleaseCatalogClient,
};

/// A bearer token; its `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token's secret text (surrounding white space removed).
    pub fn new(text: &str) -> Self {
        Self(text.trim().to_owned())
    }

    /// Returns the secret itself, for the `authorization` header and the profile file only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Adds `authorization: Bearer …` to every gRPC call when a token is set.
#[derive(Clone)]
pub struct Auth(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// The admin service client with the connection's token.
pub type AdminClient = ReleaseAdminClient<InterceptedService<Channel, Auth>>;
/// The catalog service client with the connection's token.
pub type CatalogClient = ReleaseCatalogClient<InterceptedService<Channel, Auth>>;

/// A server address and token, with the clients that reach it. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    base: String,
    token: Option<Secret>,
    auth: Auth,
    channel: Channel,
    http: reqwest::Client,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Prepares a connection to `server` (`http://host:port`; a bare `host:port` means
    /// `http://`). Nothing is dialled until the first call.
    pub fn new(server: &str, token: Option<Secret>) -> ClientResult<Self> {
        let server = server.trim().trim_end_matches('/');
        let base = if server.contains("://") {
            server.to_owned()
        } else {
            format!("http://{server}")
        };
        let uri = http::Uri::from_str(&base)
            .ok()
            .filter(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some())
            .ok_or_else(|| ClientError::usage(format!("invalid server address {server:?}")))?;
        let channel = Endpoint::from(uri)
            .tcp_nodelay(true)
            .connect_timeout(std::time::Duration::from_secs(10))
            .connect_lazy();
        let auth = Auth(
            token
                .as_ref()
                .map(|t| MetadataValue::try_from(format!("Bearer {}", t.expose())))
                .transpose()
                .map_err(|_| {
                    ClientError::usage("the token holds characters a header cannot carry")
                })?,
        );
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::internal(format!("http client: {e}")))?;
        Ok(Self {
            base,
            token,
            auth,
            channel,
            http,
        })
    }

    /// Returns the server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Returns the absolute URL of a server path (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Returns a client of `ReleaseAdmin` sending the token.
    pub fn admin(&self) -> AdminClient {
        ReleaseAdminClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(crate::api::limits::MAX_MESSAGE_BYTES)
    }

    /// Returns a client of `ReleaseCatalog` sending the token.
    pub fn catalog(&self) -> CatalogClient {
        ReleaseCatalogClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(crate::api::limits::MAX_MESSAGE_BYTES)
    }

    /// Returns the HTTP client (shared connection pool) for the byte routes.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Adds the token, when set, to an HTTP request.
    pub fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t.expose()),
            None => req,
        }
    }
}
