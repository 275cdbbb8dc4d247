//! `/users/exchange-secrets`: encrypted exchange credentials (never returned, never logged).

use actix_web::{delete, get, post, web, HttpResponse};
use actors::crypto::{Credentials, SecretText};
use actors::domain::Exchange;
use actors::refusals::Failure;
use actors::store::secrets::{self, DeleteSecret};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{AuthUser, TraderUser};
use crate::http::extract::Json;
use crate::http::{ApiError, HttpResult};
use crate::state::Shared;

/// No `Debug`: it holds plaintext credentials.
#[derive(Deserialize)]
pub struct SecretIn {
    exchange: Exchange,
    api_key: String,
    api_secret: String,
}

#[post("/users/exchange-secrets")]
pub async fn upsert(state: Shared, user: TraderUser, body: Json<SecretIn>) -> HttpResult<HttpResponse> {
    let SecretIn {
        exchange,
        api_key,
        api_secret,
    } = body.0;
    let creds = Credentials {
        api_key: SecretText::new(api_key),
        api_secret: SecretText::new(api_secret),
    };
    let sealed = secrets::seal(&state.keyring, user.id, exchange, &creds).map_err(|e| {
        tracing::error!(error = %e, "sealing exchange credentials failed");
        ApiError::Internal
    })?;
    Failure::flatten(state.store.write(user.id.into(), None, sealed, secrets::upsert).await)?;
    Ok(HttpResponse::Created().json(json!({
        "message": format!("Encrypted credentials saved for {exchange}")
    })))
}

#[get("/users/exchange-secrets")]
pub async fn list(state: Shared, user: AuthUser) -> HttpResult<HttpResponse> {
    let rows = secrets::list(&state.store, user.id).await?;
    let out: Vec<_> = rows
        .iter()
        .map(|r| json!({ "exchange": r.exchange, "configured": true, "updated_at": r.updated_at }))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

#[delete("/users/exchange-secrets/{exchange}")]
pub async fn remove(state: Shared, user: TraderUser, path: web::Path<String>) -> HttpResult<HttpResponse> {
    let exchange: Exchange = path.parse().map_err(|_| ApiError::BadExchangePath)?;
    let cmd = DeleteSecret {
        user_id: user.id,
        exchange,
    };
    Failure::flatten(state.store.write(user.id.into(), None, cmd, secrets::delete).await)?;
    Ok(HttpResponse::Ok().json(json!({ "message": format!("Credentials deleted for {exchange}") })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(upsert).service(list).service(remove);
}
