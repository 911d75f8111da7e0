//! Who is asking: the principal an authenticated transport puts into a request's
//! [`crate::Context`]. The store records its name in the metadata of every event the
//! request writes (`"principal"`, the CloudEvents attribute `principal`) and shows it
//! to handlers ([`crate::Tx::principal`]) for rules of their own.

use serde::{Deserialize, Serialize};

/// An authenticated caller.
///
/// ```
/// let teller = gesta::Principal::new("desk-7").with_roles(["teller"]);
/// assert!(teller.has_role("teller"));
/// assert_eq!(teller.subject(), "desk-7"); // no subject of its own: the name
/// let ann = gesta::Principal::new("ann-phone").with_subject("ann").with_roles(["customer"]);
/// assert_eq!(ann.subject(), "ann");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// What the log records as the author of a change: an API key's name, a JWT's `sub`.
    pub name: String,
    /// Whose data the principal acts for (`account-{subject}` in a policy), when it
    /// differs from the name: an API key's `--subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The roles a policy grants rights to.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Principal {
    /// A principal named `name`, with no roles.
    pub fn new(name: impl Into<String>) -> Self {
        Principal {
            name: name.into(),
            subject: None,
            roles: Vec::new(),
        }
    }

    /// The same, acting for `subject`.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The same, with `roles`.
    pub fn with_roles<R: Into<String>>(mut self, roles: impl IntoIterator<Item = R>) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The subject the principal acts for: its own subject, or else its name.
    pub fn subject(&self) -> &str {
        self.subject.as_deref().unwrap_or(&self.name)
    }

    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
