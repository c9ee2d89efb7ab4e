//! Keeps secret values out of what a step leaves behind: its log lines, captured stdout/stderr, output and error
//! messages all pass through the [`Redactor`] of the secrets the step was given, before they reach the log, the
//! journal or an API response.

use std::borrow::Cow;

/// What replaces a secret value.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for: replacing every `1` or `ab` would mangle unrelated text, and a
/// secret that short protects nothing anyway.
pub const MIN_SECRET_LEN: usize = 4;

/// The secret values of one attempt.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    // Each value as given and as it appears inside a JSON string (quotes and backslashes escaped).
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor of `secrets`.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles = Vec::new();
        for s in secrets.into_iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
            needles.push(s.to_string());
            if let Ok(quoted) = serde_json::to_string(s) {
                let escaped = &quoted[1..quoted.len() - 1];
                if escaped != s {
                    needles.push(escaped.to_string());
                }
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Redactor { needles }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = Cow::Owned(out.replace(needle.as_str(), REDACTED));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_raw_and_json_escaped() {
        let r = Redactor::new(["s3cr\"et-token", "abcd"]);
        assert_eq!(r.apply("token=s3cr\"et-token!"), "token=[redacted]!");
        assert_eq!(r.apply(r#"{"echo":"s3cr\"et-token"}"#), r#"{"echo":"[redacted]"}"#);
        assert_eq!(r.apply("abcdabcd"), "[redacted][redacted]");
        assert!(matches!(r.apply("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn very_short_values_are_not_searched_for() {
        let r = Redactor::new(["ab"]);
        assert!(r.is_empty());
        assert_eq!(r.apply("abab"), "abab");
    }
}
