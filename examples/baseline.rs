//! The benchmark's baseline: a bare actix-web server with the same worker count as userd, whose
//! one handler parses a small JSON body and answers a small JSON, with no storage and no auth.
//! It measures what the HTTP stack alone can do on this machine.
//!
//! `cargo run --release --example baseline -- 127.0.0.1:0` prints `listening on http://ADDR`.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use std::io::Write;

#[derive(Deserialize)]
struct Request {
    #[serde(default, rename = "userId")]
    user_id: Option<String>,
}

#[derive(Serialize)]
struct Details {
    sequence: String,
    #[serde(rename = "changeDate")]
    change_date: &'static str,
    #[serde(rename = "resourceOwner")]
    resource_owner: String,
}

#[derive(Serialize)]
struct Response {
    details: Details,
}

async fn handle(path: web::Path<(String, String)>, body: web::Bytes) -> HttpResponse {
    let parsed: Option<Request> = serde_json::from_slice(&body).ok();
    let (user, _action) = path.into_inner();
    HttpResponse::Ok().json(Response {
        details: Details {
            sequence: "2".into(),
            change_date: "2024-06-13T12:33:10.735Z",
            resource_owner: parsed.and_then(|r| r.user_id).unwrap_or(user),
        },
    })
}

fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new()
                .route("/v3alpha/users/{id}/{action}", web::post().to(handle))
                .route(
                    "/v3alpha/users/{id}",
                    web::get().to(|p: web::Path<String>| async move {
                        HttpResponse::Ok()
                            .json(serde_json::json!({"user": {"userId": p.into_inner()}}))
                    }),
                )
        })
        .workers(workers)
        .bind(bind)?;
        let addr = server.addrs()[0];
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        server.run().await
    })
}
