//! Pages from template files (`templates/`, embedded with `include_str!`), whose `{{name}}`
//! slots [`render`] fills. Text is HTML-escaped on the way in, always; only [`Html`], markup
//! that [`render`] made, goes in as it is. Raw insertion is thus asked for by type, never by
//! forgetting to escape.

/// Markup that is safe to insert as it is: only [`render`] makes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromIterator<Html> for Html {
    fn from_iter<I: IntoIterator<Item = Html>>(pieces: I) -> Self {
        Self(pieces.into_iter().map(|piece| piece.0).collect())
    }
}

/// What fills a slot.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// Text, escaped for element content and quoted attributes.
    Text(&'a str),
    /// Markup, inserted as it is.
    Html(&'a Html),
}

/// A template and its values that do not fit: a bug in the server, found by its tests.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("the template's slot `{0}` has no value")]
    Missing(String),
    #[error("the value `{0}` fills no slot of the template")]
    Unused(String),
    #[error("a slot of the template is never closed")]
    Unclosed,
}

/// Fills each `{{name}}` of `template` with the value of that name. Every value must fill a
/// slot and every slot must have a value, so that a renamed slot fails loudly.
pub fn render(template: &str, values: &[(&str, Value<'_>)]) -> Result<Html, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut used = vec![false; values.len()];
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let slot = &rest[open + 2..];
        let close = slot.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = slot[..close].trim();
        let index = values
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| TemplateError::Missing(name.to_owned()))?;
        used[index] = true;
        match values[index].1 {
            Value::Text(text) => escape_into(&mut out, text),
            Value::Html(html) => out.push_str(&html.0),
        }
        rest = &slot[close + 2..];
    }
    out.push_str(rest);
    match used.iter().position(|u| !u) {
        Some(unused) => Err(TemplateError::Unused(values[unused].0.to_owned())),
        None => Ok(Html(out)),
    }
}

/// Escapes text for HTML element content and quoted attributes.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_markup_is_not() {
        let inner = render("<b>{{who}}</b>", &[("who", Value::Text("<Ana & 'Bo'>"))]).unwrap();
        assert_eq!(inner.0, "<b>&lt;Ana &amp; &#39;Bo&#39;&gt;</b>");
        let page = render(
            "<p title=\"{{title}}\">{{ body }}</p>\n",
            &[
                ("title", Value::Text("\"quoted\"")),
                ("body", Value::Html(&inner)),
            ],
        )
        .unwrap();
        assert_eq!(
            page.into_string(),
            "<p title=\"&quot;quoted&quot;\"><b>&lt;Ana &amp; &#39;Bo&#39;&gt;</b></p>\n"
        );
    }

    #[test]
    fn a_value_is_inserted_once_and_never_read_as_a_template() {
        let out = render("{{a}}{{a}}", &[("a", Value::Text("{{a}} {{b}}"))]).unwrap();
        assert_eq!(out.into_string(), "{{a}} {{b}}{{a}} {{b}}");
    }

    #[test]
    fn slots_and_values_must_match() {
        assert_eq!(
            render("{{a}} {{b}}", &[("a", Value::Text(""))]),
            Err(TemplateError::Missing("b".into()))
        );
        assert_eq!(
            render("{{a}}", &[("a", Value::Text("")), ("b", Value::Text(""))]),
            Err(TemplateError::Unused("b".into()))
        );
        assert_eq!(
            render("{{a", &[("a", Value::Text(""))]),
            Err(TemplateError::Unclosed)
        );
        let pieces: Html = ["x", "y"]
            .iter()
            .map(|t| render("<i>{{t}}</i>", &[("t", Value::Text(t))]).unwrap())
            .collect();
        assert_eq!(pieces.into_string(), "<i>x</i><i>y</i>");
    }
}
