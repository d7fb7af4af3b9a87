//! Delivering codes to their owners. Without a mail server configured, userd runs in
//! development delivery: the code is written to the log at info level, marked as such.
//!
//! Called by the core after a change is durable, so a code is never delivered for a change that
//! was refused. Phone codes are never sent: userd has no SMS provider.

use crate::domain::CodeKind;

/// Deliver `code` of `kind` for user `user_id` (of organization `org`) to `to` (an email
/// address; None for a phone code, which is not sent). `url_template` is the link to put in
/// the message, with `{{.UserID}}`, `{{.Code}}` and `{{.OrgID}}` filled in.
pub fn deliver(
    user_id: &str,
    org: &str,
    kind: CodeKind,
    to: Option<&str>,
    code: &str,
    url_template: Option<&str>,
) {
    let what = match kind {
        CodeKind::Email => "email verification code",
        CodeKind::Phone => "phone verification code",
        CodeKind::Password => "password reset code",
    };
    let Some(to) = to else {
        log::warn!(
            target: "userd::notify",
            "{what} for user {user_id} not delivered: no SMS provider (ask for returnCode)"
        );
        return;
    };
    let link = url_template
        .map(|t| format!(", link {}", render_url(t, user_id, code, org)))
        .unwrap_or_default();
    log::info!(
        target: "userd::notify",
        "development delivery (no [notify.smtp] configured): {what} for user {user_id} to {to}: {code}{link}"
    );
}

/// The fields a URL template may use, as ZITADEL names them.
const TEMPLATE_FIELDS: [&str; 3] = [".UserID", ".Code", ".OrgID"];

/// Whether `template` is a URL template userd can fill: every `{{ ... }}` names one field.
pub fn is_valid_url_template(template: &str) -> bool {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest.get(start + 2..).and_then(|r| r.find("}}")) else {
            return false;
        };
        let field = rest.get(start + 2..start + 2 + len).unwrap_or("").trim();
        if !TEMPLATE_FIELDS.contains(&field) {
            return false;
        }
        rest = rest.get(start + 4 + len..).unwrap_or("");
    }
    !rest.contains("}}")
}

/// `template` with its fields filled in.
pub fn render_url(template: &str, user_id: &str, code: &str, org: &str) -> String {
    let mut out = template.to_string();
    for (field, value) in [(".UserID", user_id), (".Code", code), (".OrgID", org)] {
        for form in [format!("{{{{{field}}}}}"), format!("{{{{ {field} }}}}")] {
            out = out.replace(&form, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_templates_name_known_fields() {
        assert!(is_valid_url_template(
            "https://app/verify?u={{.UserID}}&c={{ .Code }}"
        ));
        assert!(is_valid_url_template("https://app/plain"));
        assert!(!is_valid_url_template("https://app/{{.Nope}}"));
        assert!(!is_valid_url_template("https://app/{{.Code"));
        assert!(!is_valid_url_template("https://app/.Code}}"));
        assert_eq!(
            render_url("x?u={{.UserID}}&c={{ .Code }}&o={{.OrgID}}", "1", "AB", "o"),
            "x?u=1&c=AB&o=o"
        );
    }
}
