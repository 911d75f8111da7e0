//! The policy file: which roles may run which commands, read which streams, and use
//! the admin routes.
//!
//! ```toml
//! [roles.teller]
//! commands = ["OpenAccount", "Deposit", "Withdraw", "Transfer"]
//! read = ["account-*"]
//! [roles.customer]
//! commands = ["Transfer", "Withdraw"]
//! read = ["account-{subject}"]
//! [roles.admin]
//! admin = true
//! ```
//!
//! A read pattern is a stream name, or a name prefix ending in `*`; `{subject}` stands
//! for the principal's subject. A principal's rights are the union of its roles'.

use std::collections::{BTreeMap, BTreeSet};

use gesta::{Principal, Readable, StreamPattern};
use serde::Deserialize;

/// What may go wrong reading a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not TOML of the expected shape.
    #[error("the policy is not valid: {0}")]
    Syntax(String),
    /// A read pattern that is not a stream name or a prefix ending in `*`.
    #[error("role {role:?}: read pattern {pattern:?}: {reason}")]
    Pattern {
        /// The role.
        role: String,
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The role policy.
///
/// ```
/// let policy = gesta_auth::Policy::from_toml(r#"
///     [roles.customer]
///     commands = ["Withdraw"]
///     read = ["account-{subject}"]
/// "#).unwrap();
/// let ann = gesta::Principal::new("ann-phone").with_subject("ann").with_roles(["customer"]);
/// let rights = policy.rights(&ann);
/// assert!(rights.may_run("Withdraw") && !rights.may_run("Deposit"));
/// assert!(rights.may_read("account-ann") && !rights.may_read("account-bob"));
/// assert!(!rights.admin);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    roles: BTreeMap<String, Role>,
    /// Rights of any authenticated principal whatever its roles (the built-in policy).
    everyone: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Role {
    commands: BTreeSet<String>,
    read: Vec<Template>,
    admin: bool,
}

/// A read pattern before the subject is filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    /// Literal pieces, between which the subject goes.
    pieces: Vec<String>,
    prefix: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    roles: BTreeMap<String, RoleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    admin: bool,
}

impl Policy {
    /// The policy of a server started with `--auth` but no `--policy`: role `admin`
    /// has every right; any other authenticated principal may run every command and
    /// read every stream, but not use the admin routes.
    pub fn builtin() -> Policy {
        let admin = Role {
            admin: true,
            ..Role::default()
        };
        let everyone = Role {
            commands: BTreeSet::from(["*".to_owned()]),
            read: vec![Template {
                pieces: vec![String::new()],
                prefix: true,
            }],
            admin: false,
        };
        Policy {
            roles: BTreeMap::from([("admin".to_owned(), admin)]),
            everyone: Some(everyone),
        }
    }

    /// Reads a policy file's text.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let file: File = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let mut roles = BTreeMap::new();
        for (name, role) in file.roles {
            let read = role
                .read
                .iter()
                .map(|pattern| template(&name, pattern))
                .collect::<Result<_, _>>()?;
            let commands = role.commands.into_iter().collect();
            roles.insert(
                name,
                Role {
                    commands,
                    read,
                    admin: role.admin,
                },
            );
        }
        Ok(Policy {
            roles,
            everyone: None,
        })
    }

    /// Reads a policy file.
    pub fn from_file(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::Syntax(format!("{}: {e}", path.display())))?;
        Policy::from_toml(&text)
    }

    /// The names of the roles it defines.
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// What `principal` may do: the union of its roles' rights.
    pub fn rights(&self, principal: &Principal) -> Rights {
        let mut rights = Rights::none();
        let roles = principal
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .chain(self.everyone.as_ref());
        let mut patterns = Vec::new();
        for role in roles {
            rights.admin |= role.admin;
            for command in &role.commands {
                if command == "*" {
                    rights.all_commands = true;
                } else {
                    rights.commands.insert(command.clone());
                }
            }
            patterns.extend(role.read.iter().map(|t| t.fill(principal.subject())));
        }
        rights.read = if rights.admin
            || patterns
                .iter()
                .any(|p| *p == StreamPattern::Prefix(String::new()))
        {
            Readable::All
        } else {
            Readable::Only(patterns)
        };
        rights
    }
}

fn template(role: &str, pattern: &str) -> Result<Template, PolicyError> {
    let bad = |reason| PolicyError::Pattern {
        role: role.to_owned(),
        pattern: pattern.to_owned(),
        reason,
    };
    let (body, prefix) = match pattern.strip_suffix('*') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    if body.contains('*') {
        return Err(bad("`*` may only end a pattern (a name prefix)"));
    }
    if body.is_empty() && !prefix {
        return Err(bad("a pattern must not be empty"));
    }
    let pieces: Vec<String> = body.split("{subject}").map(str::to_owned).collect();
    if pieces.iter().any(|p| p.contains('{') || p.contains('}')) {
        return Err(bad("the only placeholder is {subject}"));
    }
    Ok(Template { pieces, prefix })
}

impl Template {
    fn fill(&self, subject: &str) -> StreamPattern {
        let text = self.pieces.join(subject);
        if self.prefix {
            StreamPattern::Prefix(text)
        } else {
            StreamPattern::Exact(text)
        }
    }
}

/// What one principal may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    /// The admin routes (`/admin/*`, `/metrics`, direct appends) and everything else.
    pub admin: bool,
    /// Every command.
    pub all_commands: bool,
    /// The commands it may run besides.
    pub commands: BTreeSet<String>,
    /// The streams it may read.
    pub read: Readable,
}

impl Rights {
    /// No rights at all.
    pub fn none() -> Rights {
        Rights {
            admin: false,
            all_commands: false,
            commands: BTreeSet::new(),
            read: Readable::Only(Vec::new()),
        }
    }

    /// Every right (a server without authentication).
    pub fn all() -> Rights {
        Rights {
            admin: true,
            all_commands: true,
            commands: BTreeSet::new(),
            read: Readable::All,
        }
    }

    /// Whether it may run the command `name`.
    pub fn may_run(&self, name: &str) -> bool {
        self.admin || self.all_commands || self.commands.contains(name)
    }

    /// Whether it may read the stream `stream`.
    pub fn may_read(&self, stream: &str) -> bool {
        self.admin || self.read.allows(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANK: &str = r#"
        [roles.teller]
        commands = ["OpenAccount", "Deposit", "Withdraw", "Transfer"]
        read = ["account-*"]
        [roles.customer]
        commands = ["Transfer", "Withdraw"]
        read = ["account-{subject}"]
        [roles.auditor]
        read = ["*"]
        [roles.admin]
        admin = true
    "#;

    fn principal(roles: &[&str]) -> Principal {
        Principal::new("p")
            .with_subject("42")
            .with_roles(roles.iter().copied())
    }

    #[test]
    fn rights_are_the_union_of_the_roles() {
        let policy = Policy::from_toml(BANK).unwrap();
        let both = policy.rights(&principal(&["customer", "auditor"]));
        assert!(both.may_run("Withdraw") && !both.may_run("OpenAccount"));
        assert_eq!(both.read, Readable::All);
        let teller = policy.rights(&principal(&["teller"]));
        assert!(teller.may_read("account-7") && !teller.may_read("audit-1"));
        assert!(!teller.admin);
        let nobody = policy.rights(&principal(&["unknown"]));
        assert_eq!(nobody, Rights::none());
        let admin = policy.rights(&principal(&["admin"]));
        assert!(admin.admin && admin.may_run("Anything") && admin.may_read("x"));
    }

    #[test]
    fn the_subject_is_filled_in_literally() {
        let policy = Policy::from_toml(BANK).unwrap();
        let sly = Principal::new("p")
            .with_subject("*")
            .with_roles(["customer"]);
        let rights = policy.rights(&sly);
        assert!(rights.may_read("account-*") && !rights.may_read("account-1"));
    }

    #[test]
    fn bad_policies_are_refused_with_the_reason() {
        for (text, wanted) in [
            ("[roles.a]\nread = [\"a*b\"]", "may only end"),
            ("[roles.a]\nread = [\"\"]", "must not be empty"),
            ("[roles.a]\nread = [\"{user}\"]", "only placeholder"),
            ("[roles.a]\nwrite = []", "unknown field"),
            ("[roles.a]\nadmin = \"yes\"", "invalid type"),
        ] {
            let err = Policy::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(wanted), "{text}: {err}");
        }
    }

    #[test]
    fn the_builtin_policy_keeps_admin_routes_for_admins() {
        let policy = Policy::builtin();
        let anyone = policy.rights(&principal(&[]));
        assert!(anyone.may_run("Deposit") && anyone.may_read("account-1") && !anyone.admin);
        assert!(policy.rights(&principal(&["admin"])).admin);
    }
}
