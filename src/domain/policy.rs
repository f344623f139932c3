//! A repo's policies: which artifact roles a release in each channel must carry. Stored as
//! JSON (`{"channels": {"stable": ["role", …]}}`); a stored policy that no longer parses is an
//! error that says so, never "no rules".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    error::{Error, Result},
    names::parse_name,
    retention::Retention,
};

/// A repo's policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The roles a release must carry, by channel.
    #[serde(default)]
    pub channels: BTreeMap<String, Vec<String>>,
    /// Which old versions and releases may be removed (none when empty).
    #[serde(default, skip_serializing_if = "Retention::is_empty")]
    pub retention: Retention,
}

impl Policy {
    /// Builds a policy from requested `(channel, roles)` pairs, checking names and refusing a
    /// channel listed twice; errors name the field (`policy.channels[i].channel`).
    pub fn from_channels(channels: &[(String, Vec<String>)]) -> Result<Self> {
        let mut policy = Self::default();
        for (i, (channel, roles)) in channels.iter().enumerate() {
            let field = format!("policy.channels[{i}].channel");
            parse_name(&field, channel)?;
            for (j, role) in roles.iter().enumerate() {
                parse_name(&format!("policy.channels[{i}].required_roles[{j}]"), role)?;
            }
            if policy
                .channels
                .insert(channel.clone(), roles.clone())
                .is_some()
            {
                return Err(Error::invalid(field, format!("{channel} is listed twice")));
            }
        }
        Ok(policy)
    }

    /// Reads a stored policy; text that no longer parses is an internal error.
    pub fn from_stored(repo: &str, text: &str) -> Result<Self> {
        let corrupt = |e: &dyn std::fmt::Display| {
            Error::internal(format!(
                "stored policy of repo {repo} no longer parses: {e}"
            ))
        };
        // An object only: serde would also read a struct from an array.
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value @ serde_json::Value::Object(_)) => {
                serde_json::from_value(value).map_err(|e| corrupt(&e))
            }
            Ok(other) => Err(corrupt(&format!("{other} is not an object"))),
            Err(e) => Err(corrupt(&e)),
        }
    }

    /// Returns the policy as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a policy serializes")
    }

    /// Returns the roles a release in `channel` must carry.
    pub fn required_roles(&self, channel: &str) -> &[String] {
        self.channels.get(channel).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorCode;

    #[test]
    fn policies_name_required_roles() {
        let policy =
            Policy::from_stored("r", r#"{"channels":{"stable":["text","translations"]}}"#).unwrap();
        assert_eq!(policy.required_roles("stable"), ["text", "translations"]);
        assert!(policy.required_roles("beta").is_empty());
        assert_eq!(Policy::from_stored("r", "{}").unwrap(), Policy::default());
        assert_eq!(Policy::from_stored("r", &policy.to_json()).unwrap(), policy);
    }

    #[test]
    fn a_corrupt_stored_policy_is_an_error_not_no_rules() {
        for corrupt in [
            "",
            "[]",
            "{\"channels\": 3}",
            "{\"chanels\": {}}",
            "{\"channels\":{\"s\":[1]}}",
        ] {
            let err = Policy::from_stored("r", corrupt).expect_err(corrupt);
            assert_eq!(err.code, ErrorCode::Internal, "{corrupt}");
        }
    }

    #[test]
    fn requested_policies_are_checked() {
        let ok = Policy::from_channels(&[("stable".into(), vec!["text".into()])]).unwrap();
        assert_eq!(ok.required_roles("stable"), ["text"]);
        let twice = [("stable".into(), vec![]), ("stable".into(), vec![])];
        let err = Policy::from_channels(&twice).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("policy.channels[1].channel"));
        let bad_role = [("stable".into(), vec!["Text".into()])];
        let err = Policy::from_channels(&bad_role).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("policy.channels[0].required_roles[0]")
        );
    }
}
