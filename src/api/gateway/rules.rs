//! The route table of the JSON bridge, derived from the `google.api.http` annotations in the
//! descriptor set: path templates (`{field}`, `{field=**}`, a trailing `:verb`), the HTTP
//! method, and which part of the request the body fills.

use http::Method;
use prost_reflect::{DescriptorPool, MessageDescriptor, MethodDescriptor, Value};

use super::policy::{AnswerPolicy, policy};

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// Binds one segment to a field.
    Field(String),
    /// Binds the rest of the path (one or more segments) to a field.
    Rest(String),
}

/// A parsed path template such as `/v1/repos/{repo}/packages/{package}:resolve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) segments: Vec<Segment>,
    pub(crate) verb: Option<String>,
}

/// What the HTTP body fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyRule {
    None,
    /// The whole request message (`body: "*"`).
    All,
    /// One field of it (`body: "manifest"`).
    Field(String),
}

/// One annotated RPC as an HTTP route.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) method: Method,
    pub(crate) template: Template,
    pub(crate) body: BodyRule,
    /// The gRPC path, e.g. `/relreg.v1.ReleaseAdmin/CreateRepo`.
    pub(crate) grpc_path: String,
    pub(crate) rpc: MethodDescriptor,
    /// The RPC's name, for metrics labels.
    pub(crate) rpc_name: &'static str,
    /// Its `Cache-Control` and whether the bridge keeps its rendered answers.
    pub(crate) policy: &'static AnswerPolicy,
}

impl Rule {
    /// Returns the request message type.
    pub(crate) fn input(&self) -> MessageDescriptor {
        self.rpc.input()
    }

    /// Returns the response message type.
    pub(crate) fn output(&self) -> MessageDescriptor {
        self.rpc.output()
    }
}

impl Template {
    /// Parses a template; returns `None` for forms this bridge does not serve.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let path = text.strip_prefix('/')?;
        let (path, verb) = match path.rsplit_once(':') {
            // A colon after the last '}' or '/' is a custom verb.
            Some((p, v)) if !v.contains(['/', '}']) => (p, Some(v.to_owned())),
            _ => (path, None),
        };
        let mut segments = Vec::new();
        for part in path.split('/') {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(inner) => match inner.split_once('=') {
                    None => Segment::Field(inner.to_owned()),
                    Some((name, "*")) => Segment::Field(name.to_owned()),
                    Some((name, "**")) => Segment::Rest(name.to_owned()),
                    Some(_) => return None,
                },
                None if part.contains(['{', '}']) || part.is_empty() => return None,
                None => Segment::Literal(part.to_owned()),
            };
            segments.push(segment);
        }
        Some(Self { segments, verb })
    }

    /// Matches a request path; returns the bound `(field, value)` pairs, percent-decoded.
    pub(crate) fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let path = path.strip_prefix('/')?;
        let path = match &self.verb {
            Some(verb) => path.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => path,
        };
        let parts: Vec<&str> = path.split('/').collect();
        let mut bound = Vec::new();
        let mut i = 0;
        for (n, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(text) => {
                    if parts.get(i) != Some(&text.as_str()) {
                        return None;
                    }
                    i += 1;
                }
                Segment::Field(name) => {
                    let part = parts.get(i).filter(|p| !p.is_empty())?;
                    bound.push((name.clone(), decode(part)?));
                    i += 1;
                }
                Segment::Rest(name) => {
                    // The rest, leaving room for literal segments after it.
                    let after = self.segments.len() - n - 1;
                    let end = parts.len().checked_sub(after)?;
                    if end <= i {
                        return None;
                    }
                    let rest: Option<Vec<String>> =
                        parts[i..end].iter().map(|p| decode(p)).collect();
                    bound.push((name.clone(), rest?.join("/")));
                    i = end;
                }
            }
        }
        (i == parts.len()).then_some(bound)
    }

    /// Returns the template in OpenAPI form: `/v1/repos/{repo}/files/{path}:verb`.
    pub(crate) fn openapi_path(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Field(name) | Segment::Rest(name) => out.push_str(&format!("{{{name}}}")),
            }
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// Returns the names of the fields the path binds.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field(name) | Segment::Rest(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

fn decode(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads every annotated RPC of the pool's services into rules.
pub(crate) fn rules(pool: &DescriptorPool) -> Vec<Rule> {
    let Some(http) = pool.get_extension_by_name("google.api.http") else {
        return Vec::new();
    };
    let mut rules = Vec::new();
    for service in pool.services() {
        for rpc in service.methods() {
            if rpc.is_client_streaming() || rpc.is_server_streaming() {
                continue;
            }
            let options = rpc.options();
            if !options.has_extension(&http) {
                continue;
            }
            let Value::Message(rule) = options.get_extension(&http).into_owned() else {
                continue;
            };
            let grpc_path = format!("/{}/{}", service.full_name(), rpc.name());
            let mut bindings = vec![rule.clone()];
            if let Some(Value::List(more)) = rule
                .get_field_by_name("additional_bindings")
                .map(|v| v.into_owned())
            {
                bindings.extend(more.into_iter().filter_map(|v| match v {
                    Value::Message(m) => Some(m),
                    _ => None,
                }));
            }
            for binding in bindings {
                let text = |name: &str| match binding
                    .get_field_by_name(name)
                    .map(|v| v.into_owned())
                {
                    Some(Value::String(s)) if !s.is_empty() && binding.has_field_by_name(name) => {
                        Some(s)
                    }
                    _ => None,
                };
                let pattern = [
                    ("get", Method::GET),
                    ("put", Method::PUT),
                    ("post", Method::POST),
                    ("delete", Method::DELETE),
                    ("patch", Method::PATCH),
                ]
                .into_iter()
                .find_map(|(name, method)| text(name).map(|t| (method, t)));
                let Some((method, path)) = pattern else {
                    continue;
                };
                let Some(template) = Template::parse(&path) else {
                    tracing::warn!(%path, rpc = %grpc_path, "unsupported path template skipped");
                    continue;
                };
                let body = match text("body").as_deref() {
                    None => BodyRule::None,
                    Some("*") => BodyRule::All,
                    Some(field) => BodyRule::Field(field.to_owned()),
                };
                // Leaked once per annotated RPC at startup: a bounded set of labels.
                let rpc_name: &'static str = Box::leak(rpc.name().to_owned().into_boxed_str());
                rules.push(Rule {
                    method,
                    template,
                    body,
                    grpc_path: grpc_path.clone(),
                    rpc: rpc.clone(),
                    rpc_name,
                    policy: policy(rpc.full_name()),
                });
            }
        }
    }
    // More specific templates first: a custom verb, then more literal segments, so that
    // `/packages/{package}:resolve` is not taken for `/packages/{package}`.
    rules.sort_by_key(|r| {
        let literals = r
            .template
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (r.template.verb.is_none(), std::cmp::Reverse(literals))
    });
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        Template::parse(template).unwrap().matches(path)
    }

    #[test]
    fn templates_bind_fields_rest_and_verbs() {
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            bound("/v1/repos/{repo}", "/v1/repos/acme"),
            Some(vec![pair("repo", "acme")])
        );
        assert_eq!(bound("/v1/repos/{repo}", "/v1/repos/acme/x"), None);
        assert_eq!(bound("/v1/repos/{repo}", "/v1/repos/"), None);
        assert_eq!(
            bound(
                "/v1/repos/{repo}/files/{path=**}",
                "/v1/repos/a/files/dir/sub/f%20x.json"
            ),
            Some(vec![pair("repo", "a"), pair("path", "dir/sub/f x.json")])
        );
        assert_eq!(
            bound("/v1/repos/{repo}/files/{path=**}", "/v1/repos/a/files"),
            None
        );
        assert_eq!(
            bound("/v1/v/{version}:publish", "/v1/v/1.2.3-rc.1:publish"),
            Some(vec![pair("version", "1.2.3-rc.1")])
        );
        assert_eq!(bound("/v1/v/{version}:publish", "/v1/v/1.2.3"), None);
        assert_eq!(
            bound("/v1/v/{version}", "/v1/v/1.2.3:publish"),
            Some(vec![pair("version", "1.2.3:publish")])
        );
        assert_eq!(
            bound("/v1/{a=**}/tail", "/v1/x/y/tail"),
            Some(vec![pair("a", "x/y")])
        );
        assert_eq!(
            Template::parse("/v1/repos/{repo}/x:go")
                .unwrap()
                .openapi_path(),
            "/v1/repos/{repo}/x:go"
        );
        assert!(Template::parse("/v1/{a=foo/*}").is_none());
    }

    #[test]
    fn every_annotated_rpc_has_a_rule() {
        let pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        let rules = rules(&pool);
        let find = |path: &str| rules.iter().find(|r| r.grpc_path == path).unwrap();
        assert_eq!(
            find("/relreg.v1.ReleaseAdmin/CreateRepo").method,
            Method::POST
        );
        assert_eq!(
            find("/relreg.v1.ReleaseAdmin/SetVersionManifest").body,
            BodyRule::Field("manifest".into())
        );
        assert_eq!(
            find("/relreg.v1.ReleaseCatalog/GetLatestRelease").body,
            BodyRule::None
        );
        assert!(!rules.iter().any(
            |r| r.grpc_path.ends_with("/UploadBlob") || r.grpc_path.ends_with("/DownloadBlob")
        ));
        let annotated = pool
            .services()
            .flat_map(|s| s.methods().collect::<Vec<_>>())
            .filter(|m| !m.is_client_streaming() && !m.is_server_streaming())
            .count();
        assert_eq!(
            rules.len(),
            annotated,
            "every unary RPC is annotated and served"
        );
    }
}
