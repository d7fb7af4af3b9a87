//! The console at `/ui/`: a page, a script and a style sheet compiled into the binary, which
//! call the same API every client does with the token the person signs in with. Nothing is
//! loaded from elsewhere (the content security policy says so to the browser).
//!
//! Development sign-in (`/ui/sign-in`) mints a short-lived instance-owner token, and only when
//! the development secret is the key in use, the server listens on loopback only, and the
//! request comes from this machine, not from another site's page (see [`from_this_machine`]).

use super::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::http::error::HttpError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// One file of the console: its name under `/ui/`, its type and its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("console/index.html"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("console/console.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("console/console.css"),
    },
];

/// The browser may run, style and fetch from this server only, and never frame the console.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/ui").route(web::get().to(to_console)))
        .service(
            super::resource("/ui/sign-in")
                .route(web::get().to(sign_in_offered))
                .route(web::post().to(dev_sign_in)),
        )
        .service(super::resource("/ui/{file:[^/]*}").route(web::get().to(asset)));
}

async fn to_console() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/ui/"))
        .finish()
}

/// `GET /ui/` and `GET /ui/{file}`.
async fn asset(
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let name = match file.as_str() {
        "" => "index.html",
        name => name,
    };
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or(ErrorCode::RouteNotFound)?;
    let body = match &state.console_dir {
        // Working on the console: the files as they are now.
        Some(dir) => {
            let path = dir.join(asset.name);
            web::block(move || std::fs::read(path))
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or(ErrorCode::RouteNotFound)?
        }
        None => asset.body.as_bytes().to_vec(),
    };
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body))
}

/// `GET /ui/sign-in`: whether this browser is offered development sign-in.
async fn sign_in_offered(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let offered = state.dev_sign_in.is_some() && from_this_machine(&req).is_ok();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "devSignIn": offered }))
}

/// `POST /ui/sign-in`: a development token, `{"token", "subject", "expiresIn"}`.
async fn dev_sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let signer = state
        .dev_sign_in
        .as_ref()
        .ok_or(ErrorCode::DevSignInRefused)?;
    from_this_machine(&req).map_err(|_| ErrorCode::DevSignInRefused)?;
    let token = signer
        .mint(crate::domain::Timestamp::now())
        .map_err(|why| ApiError::with_text(ErrorCode::Internal, why))?;
    log::info!("development sign-in from {:?}", req.peer_addr());
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "token": token,
            "subject": crate::auth::DevSignIn::SUBJECT,
            "expiresIn": crate::auth::DevSignIn::TTL_SECONDS,
        })))
}

/// A request from this machine, and not sent by another site's page: from a loopback address
/// with no forwarding headers (a local proxy in front would make every client look local), for
/// a loopback host name (a page on a name that resolves to 127.0.0.1 is another site), and
/// from no other origin than this server's own (a page on another local port is another site).
pub fn from_this_machine(req: &HttpRequest) -> Result<(), ApiError> {
    let refused = || ApiError::from(ErrorCode::DevCrossSite);
    let peer_is_loopback = req
        .peer_addr()
        .is_some_and(|a| a.ip().to_canonical().is_loopback());
    let headers = req.headers();
    let forwarded = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
        "via",
    ]
    .iter()
    .any(|name| headers.contains_key(*name));
    if !peer_is_loopback || forwarded {
        return Err(refused());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    if !is_loopback_authority(host) {
        return Err(refused());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if !authority.eq_ignore_ascii_case(host) {
            return Err(refused());
        }
    }
    let same_origin = headers
        .get("sec-fetch-site")
        .is_none_or(|v| matches!(v.as_bytes(), b"same-origin" | b"none"));
    if !same_origin {
        return Err(refused());
    }
    Ok(())
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_authority;

    #[test]
    fn loopback_authorities() {
        for yes in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "127.9.0.1",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(is_loopback_authority(yes), "{yes}");
        }
        for no in [
            "",
            "example.com",
            "10.0.0.1:80",
            "localhost.evil.com",
            "[::2]:80",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback_authority(no), "{no}");
        }
    }
}
