//! `/users`: the caller's profile, and admin creation and listing of users.
//! (Exchange secrets live in their own module.)

use actix_web::{get, post, HttpResponse};
use actors::domain::{Role, UserId};
use actors::store::users::{self, NewUser, UserRow};
use actors::store::ShardKey;
use secrecy::SecretString;
use serde::Serialize;

use crate::auth::{password, AccountRefused, AdminUser, AuthUser};
use crate::http::extract::Json;
use crate::http::HttpResult;
use crate::routes::auth::{check_new_password, Credentials};
use crate::state::Shared;

/// A user as the contract shows them.
#[derive(Serialize)]
pub struct UserOut {
    pub id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
}

impl From<&UserRow> for UserOut {
    fn from(u: &UserRow) -> Self {
        UserOut {
            id: u.id,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
        }
    }
}

#[get("/users/me")]
pub async fn me(user: AuthUser) -> HttpResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(UserOut {
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        role: user.role,
    }))
}

#[post("/users")]
pub async fn create(
    state: Shared,
    AdminUser(admin): AdminUser,
    Json(body): Json<Credentials>,
) -> HttpResult<HttpResponse> {
    check_new_password(&body.password)?;
    let hash = password::hash(SecretString::from(body.password)).await?;
    let new = NewUser {
        email: body.email.as_str().to_string(),
        password_hash: hash,
        role: Role::Trader,
        audit_action: Some("user.create"),
        actor_id: Some(admin.id),
    };
    match state.store.write(ShardKey::Unowned, None, new, users::create).await? {
        Some(user) => Ok(HttpResponse::Created().json(UserOut::from(&user))),
        None => Err(AccountRefused::EmailAlreadyExists.into()),
    }
}

#[get("/users")]
pub async fn list(state: Shared, _admin: AdminUser) -> HttpResult<HttpResponse> {
    let rows = users::list(&state.store).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(UserOut::from).collect::<Vec<_>>()))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(me).service(create).service(list);
}
