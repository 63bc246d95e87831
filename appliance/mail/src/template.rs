//! Template pairs: `NAME.txt` (first line `Subject: …`) and `NAME.html`, built in or from a
//! folder that overrides them.

use std::path::Path;

/// The built-in templates: name, text, HTML.
const BUILT_IN: &[(&str, &str, &str)] = &[
    (
        "test",
        include_str!("../templates/test.txt"),
        include_str!("../templates/test.html"),
    ),
    (
        "deletion-certificate",
        include_str!("../templates/deletion-certificate.txt"),
        include_str!("../templates/deletion-certificate.html"),
    ),
    (
        "email-change",
        include_str!("../templates/email-change.txt"),
        include_str!("../templates/email-change.html"),
    ),
    (
        "email-change-started",
        include_str!("../templates/email-change-started.txt"),
        include_str!("../templates/email-change-started.html"),
    ),
    (
        "email-changed",
        include_str!("../templates/email-changed.txt"),
        include_str!("../templates/email-changed.html"),
    ),
    (
        "breach-notice",
        include_str!("../templates/breach-notice.txt"),
        include_str!("../templates/breach-notice.html"),
    ),
    (
        "legal-notice",
        include_str!("../templates/legal-notice.txt"),
        include_str!("../templates/legal-notice.html"),
    ),
    (
        "review-activity",
        include_str!("../templates/review-activity.txt"),
        include_str!("../templates/review-activity.html"),
    ),
    (
        "review-burst",
        include_str!("../templates/review-burst.txt"),
        include_str!("../templates/review-burst.html"),
    ),
    (
        "review-digest",
        include_str!("../templates/review-digest.txt"),
        include_str!("../templates/review-digest.html"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no mail template `{0}`")]
    Unknown(String),
    #[error("mail template {path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// A template pair, not yet filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    subject: String,
    text: String,
    html: String,
}

/// A filled-in template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Template {
    /// Template `name`, from `dir` when it holds the pair, else built in.
    pub fn load(name: &str, dir: Option<&Path>) -> Result<Self, TemplateError> {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(TemplateError::Unknown(name.to_owned()));
        }
        if let Some(dir) = dir {
            let text_path = dir.join(format!("{name}.txt"));
            if text_path.is_file() {
                let read = |p: &Path| {
                    std::fs::read_to_string(p).map_err(|e| TemplateError::Invalid {
                        path: p.display().to_string(),
                        reason: e.to_string(),
                    })
                };
                let text = read(&text_path)?;
                let html = read(&dir.join(format!("{name}.html")))?;
                return Self::parse(&text_path.display().to_string(), &text, &html);
            }
        }
        let (_, text, html) = BUILT_IN
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
        Self::parse(name, text, html)
    }

    fn parse(path: &str, text: &str, html: &str) -> Result<Self, TemplateError> {
        let invalid = |reason: &str| TemplateError::Invalid {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let (first, body) = text.split_once('\n').ok_or_else(|| invalid("no body"))?;
        let subject = first
            .strip_prefix("Subject: ")
            .ok_or_else(|| invalid("the first line must be `Subject: …`"))?;
        let lower = html.to_ascii_lowercase();
        // Nothing remote: a notice must not tell anyone it was opened.
        for remote in ["src=\"http", "src='http", "url(http", "@import"] {
            if lower.contains(remote) {
                return Err(invalid("the HTML loads something remote"));
            }
        }
        Ok(Self {
            subject: subject.trim().to_owned(),
            text: body.trim_start_matches('\n').to_owned(),
            html: html.to_owned(),
        })
    }

    /// Fills `{{name}}` with each value: as is in the subject and text, escaped in the HTML.
    pub fn render(&self, values: &[(&str, &str)]) -> Rendered {
        let fill = |s: &str, escape: bool| {
            values.iter().fold(s.to_owned(), |acc, (k, v)| {
                let v = if escape {
                    escape_html(v)
                } else {
                    (*v).to_owned()
                };
                acc.replace(&format!("{{{{{k}}}}}"), &v)
            })
        };
        Rendered {
            // A subject is one line, whatever a value holds.
            subject: fill(&self.subject, false).replace(['\r', '\n'], " "),
            text: fill(&self.text, false),
            html: fill(&self.html, true),
        }
    }
}

fn escape_html(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_filled_and_escaped_in_html_only() {
        let t = Template::load("test", None).unwrap_or_else(|e| panic!("{e}"));
        let r = t.render(&[
            ("origin", "<b>vault</b> & co"),
            ("sent_at", "now"),
            ("relay", "x"),
        ]);
        assert_eq!(r.subject, "Studio Vault can send mail");
        assert!(r.text.contains("at <b>vault</b> & co."));
        assert!(r.html.contains("&lt;b&gt;vault&lt;/b&gt; &amp; co"));
        assert!(!r.html.contains("{{"));
    }

    #[test]
    fn the_legal_notice_uses_every_value_the_vault_fills_and_only_those() {
        // The values `studiovault_vault::legal` queues the notice with.
        let names = [
            "kind",
            "authority",
            "legal_basis",
            "reference",
            "received",
            "deadline",
            "data",
            "handed_over",
        ];
        let t = Template::load("legal-notice", None).unwrap_or_else(|e| panic!("{e}"));
        for name in names {
            let slot = format!("{{{{{name}}}}}");
            assert!(t.text.contains(&slot) && t.html.contains(&slot), "{name}");
        }
        let values: Vec<(&str, &str)> = names.iter().map(|n| (*n, "<x>")).collect();
        let r = t.render(&values);
        for part in [&r.subject, &r.text, &r.html] {
            assert!(!part.contains("{{"), "a slot left unfilled: {part}");
        }
        assert!(r.html.contains("&lt;x&gt;"));
    }

    #[test]
    fn names_are_plain_and_remote_content_is_refused() {
        assert!(matches!(
            Template::load("../etc/passwd", None),
            Err(TemplateError::Unknown(_))
        ));
        assert!(matches!(
            Template::load("nope", None),
            Err(TemplateError::Unknown(_))
        ));
        let dir = std::env::temp_dir().join(format!("sv-mail-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        std::fs::write(dir.join("test.txt"), "Subject: hi\n\nbody").unwrap_or_default();
        std::fs::write(
            dir.join("test.html"),
            "<img src=\"https://tracker.example/p.gif\">",
        )
        .unwrap_or_default();
        assert!(matches!(
            Template::load("test", Some(&dir)),
            Err(TemplateError::Invalid { .. })
        ));
        std::fs::write(dir.join("test.html"), "<p>{{origin}}</p>").unwrap_or_default();
        let r = Template::load("test", Some(&dir))
            .map(|t| t.render(&[("origin", "a\nb")]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.subject.as_str(), r.text.as_str()), ("hi", "body"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
