//! `REPO/PACKAGE@VERSION`, the way client commands name a package version, parsed once
//! where it enters.

use std::{fmt, str::FromStr};

use super::error::ClientError;
use crate::domain::parse_name;

/// A package version named by its repo, package and semver version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    /// The repo key.
    pub repo: String,
    /// The package name.
    pub package: String,
    /// The version (semver 2.0).
    pub version: semver::Version,
}

/// Splits `REPO/PACKAGE@REST` (REST a version, or for `pull` a requirement), checking both
/// names; the error says what is wrong.
pub(crate) fn split_package_ref(text: &str) -> Result<(&str, &str, &str), String> {
    let (name, rest) = text.split_once('@').ok_or("no @VERSION")?;
    let (repo, package) = name.split_once('/').ok_or("no REPO/ before the package")?;
    parse_name("repo", repo).map_err(|e| e.to_string())?;
    parse_name("package", package).map_err(|e| e.to_string())?;
    Ok((repo, package, rest))
}

impl FromStr for VersionRef {
    type Err = ClientError;

    /// Parses `REPO/PACKAGE@VERSION`; anything else is a usage error that says the form.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| {
            ClientError::usage(format!("{text:?} is not REPO/PACKAGE@VERSION ({why})"))
        };
        let (repo, package, version) = split_package_ref(text).map_err(bad)?;
        let version = semver::Version::parse(version)
            .map_err(|e| bad(format!("version {version:?}: {e}")))?;
        Ok(Self {
            repo: repo.to_owned(),
            package: package.to_owned(),
            version,
        })
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.repo, self.package, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_parts_and_refuses_the_rest() {
        let r: VersionRef = "acme/app-config@1.2.3-rc.1".parse().unwrap();
        assert_eq!(
            (r.repo.as_str(), r.package.as_str()),
            ("acme", "app-config")
        );
        assert_eq!(r.version.to_string(), "1.2.3-rc.1");
        assert_eq!(r.to_string(), "acme/app-config@1.2.3-rc.1");
        for bad in [
            "acme/app",
            "app@1.0.0",
            "acme/app@1.0",
            "/app@1.0.0",
            "acme/@1.0.0",
            "a/b/c@1.0.0",
        ] {
            let e = bad.parse::<VersionRef>().unwrap_err();
            assert_eq!(e.exit, crate::client::Exit::Usage, "{bad}");
            assert!(e.message.contains("REPO/PACKAGE@VERSION"), "{}", e.message);
        }
    }
}
