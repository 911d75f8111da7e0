//! NATS subjects and stream names built from a store's names, stream categories and
//! event types.
//!
//! A subject token may not contain `.` (the separator), `*` or `>` (wildcards) or
//! whitespace, and may not be empty; a JetStream stream name may not contain those nor
//! `/` or `\`. Every character that is not allowed becomes `_`.

/// `text` as one subject token: each `.`, `*`, `>`, whitespace or control character
/// becomes `_`; an empty token becomes `_`.
pub fn token(text: &str) -> String {
    let token: String = text
        .chars()
        .map(|c| {
            if matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if token.is_empty() {
        "_".to_owned()
    } else {
        token
    }
}

/// `prefix` as a subject prefix: each of its `.`-separated tokens made valid by
/// [`token`] (so `gesta.my store` becomes `gesta.my_store`, `a..b` becomes `a._.b`).
pub fn prefix(prefix: &str) -> String {
    prefix.split('.').map(token).collect::<Vec<_>>().join(".")
}

/// A valid JetStream stream name made from `text`: what [`token`] replaces, and `/`
/// and `\`, become `_`.
pub fn stream_name(text: &str) -> String {
    token(text).replace(['/', '\\'], "_")
}

/// The subject of an event: `<prefix>.<category>.<type>`.
pub fn for_event(prefix: &str, category: &str, event_type: &str) -> String {
    format!("{prefix}.{}.{}", token(category), token(event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_lose_separators_wildcards_and_whitespace() {
        assert_eq!(token("account"), "account");
        assert_eq!(token("v1.Opened"), "v1_Opened");
        assert_eq!(token("a*b>c d\te\n"), "a_b_c_d_e_");
        assert_eq!(token(""), "_");
        assert_eq!(token("Überweisung"), "Überweisung");
    }

    #[test]
    fn prefixes_keep_their_separators() {
        assert_eq!(prefix("gesta.bank"), "gesta.bank");
        assert_eq!(prefix("gesta.my store"), "gesta.my_store");
        assert_eq!(prefix("a..>"), "a._._");
    }

    #[test]
    fn event_subjects_have_three_parts_after_the_prefix() {
        assert_eq!(
            for_event("gesta.bank", "account", "AccountOpened"),
            "gesta.bank.account.AccountOpened"
        );
        assert_eq!(for_event("p", "a.b", "x y"), "p.a_b.x_y");
    }

    #[test]
    fn stream_names_lose_path_separators() {
        assert_eq!(stream_name("GESTA_bank"), "GESTA_bank");
        assert_eq!(stream_name("a/b\\c.d"), "a_b_c_d");
    }
}
