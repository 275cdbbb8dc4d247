//! `GET /openapi.json` and the interactive docs (Swagger UI, served from the binary) at `/docs`.

use actix_web::{get, HttpResponse};
use utoipa_swagger_ui::SwaggerUi;

#[get("/docs")]
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(docs_redirect).service(
        SwaggerUi::new("/docs/{_:.*}").external_url_unchecked("/openapi.json", crate::openapi::document().clone()),
    );
}
