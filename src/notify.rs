//! Delivering codes to their owners: by SMTP when `[notify.smtp]` is configured, otherwise in
//! development delivery, where the code is written to the log at info level, marked as such.
//!
//! The core hands a code over only after the change it belongs to is durable, so nothing is
//! delivered for a refused change. Mail goes out on one sender thread behind a bounded queue:
//! a slow or dead mail server never holds a request. Phone codes are never sent (no SMS).

use crate::config::{SmtpConfig, SmtpTls};
use crate::domain::CodeKind;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use std::sync::mpsc;
use std::time::Duration;

/// Messages waiting for the mail server, at most; more are dropped with a warning.
const QUEUE: usize = 1024;

/// One code to deliver.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub user_id: &'a str,
    pub org: &'a str,
    pub kind: CodeKind,
    /// An email address; None for a phone code.
    pub to: Option<&'a str>,
    pub code: &'a str,
    /// The link to put in the message, with `{{.UserID}}`, `{{.Code}}` and `{{.OrgID}}`.
    pub url_template: Option<&'a str>,
}

/// Where codes go.
#[derive(Debug)]
pub struct Notifier {
    mail: Option<(mpsc::SyncSender<Message>, Mailbox)>,
}

impl Notifier {
    /// Development delivery: codes are written to the log.
    pub fn log_only() -> Notifier {
        Notifier { mail: None }
    }

    /// Mail through `smtp` (or log only without it); the sender thread starts here.
    pub fn new(smtp: Option<&SmtpConfig>) -> Result<Notifier, String> {
        let Some(smtp) = smtp else {
            return Ok(Notifier::log_only());
        };
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| format!("notify.smtp.from: {e}"))?;
        let mut builder = match smtp.tls {
            SmtpTls::Starttls => SmtpTransport::starttls_relay(&smtp.host),
            SmtpTls::Tls => SmtpTransport::relay(&smtp.host),
            SmtpTls::None => Ok(SmtpTransport::builder_dangerous(&smtp.host)),
        }
        .map_err(|e| format!("notify.smtp.host: {e}"))?
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout_seconds.max(1))));
        let password = match (&smtp.password_file, &smtp.password) {
            (Some(file), _) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| format!("notify.smtp.password_file {}: {e}", file.display()))?
                    .trim_end()
                    .to_string(),
            ),
            (None, password) => password.clone(),
        };
        if let (Some(user), Some(password)) = (&smtp.username, password) {
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let transport = builder.build();
        let (tx, rx) = mpsc::sync_channel::<Message>(QUEUE);
        let server = format!("{}:{}", smtp.host, smtp.port);
        std::thread::Builder::new()
            .name("userd-mail".into())
            .spawn(move || {
                for message in rx {
                    let to = message
                        .envelope()
                        .to()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ");
                    match transport.send(&message) {
                        Ok(_) => log::info!(target: "userd::notify", "mailed a code to {to} via {server}"),
                        Err(e) => log::warn!(target: "userd::notify", "mail to {to} via {server} failed: {e}"),
                    }
                }
            })
            .map_err(|e| format!("cannot start the mail sender: {e}"))?;
        Ok(Notifier {
            mail: Some((tx, from)),
        })
    }

    /// Deliver one code (queued for the mail server, or written to the log).
    pub fn deliver(&self, d: Delivery<'_>) {
        let (what, subject) = match d.kind {
            CodeKind::Email => ("email verification code", "Verify your email address"),
            CodeKind::Phone => ("phone verification code", "Verify your phone number"),
            CodeKind::Password => ("password reset code", "Reset your password"),
        };
        let Some(to) = d.to else {
            log::warn!(
                target: "userd::notify",
                "{what} for user {} not delivered: no SMS provider (ask for returnCode)",
                d.user_id
            );
            return;
        };
        let link = d
            .url_template
            .map(|t| render_url(t, d.user_id, d.code, d.org));
        let Some((queue, from)) = &self.mail else {
            let link = link.map(|l| format!(", link {l}")).unwrap_or_default();
            log::info!(
                target: "userd::notify",
                "development delivery (no [notify.smtp] configured): {what} for user {} to {to}: {}{link}",
                d.user_id,
                d.code
            );
            return;
        };
        let mut body = format!("Your {what} is: {}\n", d.code);
        if let Some(link) = link {
            body.push_str(&format!("\nOr open: {link}\n"));
        }
        let message = to
            .parse::<Mailbox>()
            .map_err(|e| e.to_string())
            .and_then(|to| {
                Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    .body(body)
                    .map_err(|e| e.to_string())
            });
        match message {
            Ok(message) => {
                if queue.try_send(message).is_err() {
                    log::warn!(target: "userd::notify", "mail queue full: {what} for user {} dropped", d.user_id);
                }
            }
            Err(e) => log::warn!(target: "userd::notify", "cannot mail {what} to {to}: {e}"),
        }
    }
}

/// The fields a URL template may use, as ZITADEL names them.
const TEMPLATE_FIELDS: [&str; 3] = [".UserID", ".Code", ".OrgID"];

/// The pieces of a URL template: text, and the fields named by `{{ ... }}`; None if a
/// brace is left open or a field is not one userd knows.
fn pieces(template: &str) -> Option<Vec<(&str, Option<&'static str>)>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = rest.get(start + 2..)?;
        let len = after.find("}}")?;
        let name = after.get(..len)?.trim();
        let field = TEMPLATE_FIELDS.iter().find(|f| **f == name)?;
        out.push((rest.get(..start)?, Some(*field)));
        rest = after.get(len + 2..)?;
    }
    if rest.contains("}}") {
        return None;
    }
    out.push((rest, None));
    Some(out)
}

/// Whether `template` is a URL template userd can fill: every `{{ ... }}` names one field.
pub fn is_valid_url_template(template: &str) -> bool {
    pieces(template).is_some()
}

/// `template` with its fields filled in (a template that is not valid is returned as it is).
pub fn render_url(template: &str, user_id: &str, code: &str, org: &str) -> String {
    let Some(pieces) = pieces(template) else {
        return template.to_string();
    };
    let mut out = String::with_capacity(template.len() + code.len());
    for (text, field) in pieces {
        out.push_str(text);
        out.push_str(match field {
            Some(".UserID") => user_id,
            Some(".Code") => code,
            Some(".OrgID") => org,
            _ => "",
        });
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
            render_url(
                "x?u={{.UserID}}&c={{ .Code }}&o={{.OrgID  }}",
                "1",
                "AB",
                "o"
            ),
            "x?u=1&c=AB&o=o"
        );
    }
}
