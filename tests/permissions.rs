//! The permission matrix: every operation `docs/openapi.json` documents, called by every kind of
//! caller, answers as the gate `crypto_saas::auth::ROUTES` gives it — and that table is held to
//! the document and to the extractor each handler really takes. Then trader isolation: one trader
//! neither reads nor changes another's signals, positions, secrets, audit events or sessions.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use actors::domain::Role;
use common::*;
use crypto_saas::auth::{gate_of, Gate, ROUTES};
use reqwest::Method;
use serde_json::{json, Value};

/// Who calls. `AnotherTrader` is a trader who names trader A's signal and position where a route
/// takes an id of one; the others name ids of nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    Anonymous,
    Trader,
    AnotherTrader,
    Operator,
    Viewer,
    Admin,
    Service,
    Disabled,
}

impl Caller {
    const ALL: [Caller; 8] = [
        Caller::Anonymous,
        Caller::Trader,
        Caller::AnotherTrader,
        Caller::Operator,
        Caller::Viewer,
        Caller::Admin,
        Caller::Service,
        Caller::Disabled,
    ];

    /// The role the caller has in the database (`None`: no token at all).
    fn role(self) -> Option<Role> {
        match self {
            Caller::Anonymous => None,
            Caller::Trader | Caller::AnotherTrader => Some(Role::Trader),
            Caller::Operator => Some(Role::Operator),
            Caller::Viewer => Some(Role::Viewer),
            Caller::Admin => Some(Role::Admin),
            Caller::Service => Some(Role::Service),
            Caller::Disabled => Some(Role::Disabled),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Trader => "trader",
            Caller::AnotherTrader => "another trader",
            Caller::Operator => "operator",
            Caller::Viewer => "viewer",
            Caller::Admin => "admin",
            Caller::Service => "service",
            Caller::Disabled => "disabled",
        }
    }
}

/// The answer a caller gets at a route's gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past the gate: whatever the route answers (a 404 or 422 shows the gate let it through),
    /// but never 401, an authorisation 403, the router's 404/405 or a 5xx.
    Admitted,
    /// 401 `Not authenticated` with `WWW-Authenticate: Bearer`.
    NotAuthenticated,
    /// 403 `Insufficient permissions`.
    Forbidden,
    /// 403 `User is disabled` (the contract: "on every request, at once").
    Disabled,
}

fn expected(gate: Gate, caller: Caller) -> Expect {
    let Some(roles) = gate.roles() else {
        return Expect::Admitted;
    };
    match caller.role() {
        None => Expect::NotAuthenticated,
        Some(Role::Disabled) => Expect::Disabled,
        Some(role) if roles.contains(&role) => Expect::Admitted,
        Some(_) => Expect::Forbidden,
    }
}

/// The ids a request names: trader A's for `AnotherTrader`, fresh ones (of nothing) otherwise.
struct Ids {
    signal: String,
    position: String,
    nobody: String,
}

enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, &'static str)>),
}

/// A request that gets an admitted caller past the gate to the route's own answer. A documented
/// route without one fails the test: add it here and give it a gate in `ROUTES`.
fn request_for(method: &str, template: &str, ids: &Ids) -> (String, Body) {
    let nobody = &ids.nobody;
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "qty": 1});
    let reason = json!({"reason": "permission matrix"});
    let (path, body) = match (method, template) {
        ("GET", "/" | "/healthz" | "/ops/health" | "/metrics" | "/docs" | "/openapi.json" | "/ops/dashboard") => {
            (template.to_string(), Body::None)
        }
        ("POST", "/auth/register") => (
            template.to_string(),
            Body::Json(json!({"email": "not-an-email", "password": PASSWORD})),
        ),
        ("POST", "/auth/login") => (
            template.to_string(),
            Body::Form(vec![("username", "nobody@matrix.test")]),
        ),
        ("POST", "/auth/refresh") => (template.to_string(), Body::Json(json!({}))),
        ("POST", "/auth/logout" | "/auth/revoke-all" | "/auth/2fa/setup") => (template.to_string(), Body::None),
        ("POST", "/auth/2fa/verify-enable" | "/auth/2fa/disable") => {
            (template.to_string(), Body::Json(json!({"otp": "000000"})))
        }
        ("GET", "/users/me" | "/users/me/risk-settings" | "/users/exchange-secrets" | "/users") => {
            (template.to_string(), Body::None)
        }
        ("GET", "/users/risk-profiles") => (template.to_string(), Body::None),
        ("POST", "/users/exchange-secrets") => (
            template.to_string(),
            Body::Json(json!({"exchange": "BINANCE", "api_key": "matrix-key-1", "api_secret": "matrix-secret-1"})),
        ),
        ("DELETE", "/users/exchange-secrets/{exchange}") => ("/users/exchange-secrets/BINANCE".into(), Body::None),
        ("POST", "/users") => (
            template.to_string(),
            Body::Json(json!({"email": "created@matrix.test", "password": PASSWORD})),
        ),
        ("GET", "/users/{user_id}/risk-settings") => (format!("/users/{nobody}/risk-settings"), Body::None),
        ("PUT", "/users/{user_id}/risk-settings") => (
            format!("/users/{nobody}/risk-settings"),
            Body::Json(json!({"capital_base_usd": 5000})),
        ),
        ("PUT", "/users/{user_id}/risk-profile") => (
            format!("/users/{nobody}/risk-profile"),
            Body::Json(json!({"profile_name": null})),
        ),
        ("PATCH", "/users/{user_id}/role") => (
            format!("/users/{nobody}/role"),
            Body::Json(json!({"role": "viewer", "reason": "permission matrix"})),
        ),
        ("PUT", "/users/{user_id}/password") => (
            format!("/users/{nobody}/password"),
            Body::Json(json!({"new_password": "Another-long-pass-42", "reason": "permission matrix"})),
        ),
        ("POST", "/users/{user_id}/2fa/reset") => (format!("/users/{nobody}/2fa/reset"), Body::Json(reason)),
        ("POST", "/users/{user_id}/revoke-sessions") => (format!("/users/{nobody}/revoke-sessions"), Body::None),
        ("GET", "/signals" | "/positions" | "/positions/risk/today") => (template.to_string(), Body::None),
        ("POST", "/signals") => (template.to_string(), Body::Json(signal_body("BTCUSDT"))),
        ("POST", "/signals/claim") => ("/signals/claim?limit=5".into(), Body::None),
        ("POST", "/positions/open_from_signal") => (
            format!("/positions/open_from_signal?signal_id={}&qty=1", ids.signal),
            Body::None,
        ),
        ("POST", "/positions/close") => (
            format!("/positions/close?position_id={}&exit_price=101", ids.position),
            Body::None,
        ),
        ("POST", "/ops/execution/pretrade/binance/check" | "/ops/execution/pretrade/ibkr/check") => {
            (template.to_string(), Body::Json(order))
        }
        ("POST", "/ops/execution/exit/binance/check" | "/ops/execution/exit/ibkr/check") => (
            template.to_string(),
            Body::Json(
                json!({"symbol": "BTCUSDT", "side": "BUY", "entry_price": 100, "current_price": 101,
                              "stop_loss": 95, "take_profit": 110}),
            ),
        ),
        ("POST", "/ops/execution/prepare") => (
            template.to_string(),
            Body::Json(json!({"exchange": "BINANCE", "symbol": "BTCUSDT", "side": "BUY", "qty": 1})),
        ),
        ("POST", "/ops/execution/binance/test-order" | "/ops/execution/ibkr/test-order") => {
            (template.to_string(), Body::Json(order))
        }
        ("GET", "/ops/audit/me" | "/ops/audit/all" | "/ops/strategy/assignments" | "/ops/cluster") => {
            (template.to_string(), Body::None)
        }
        ("POST", "/ops/strategy/assign") => (
            template.to_string(),
            Body::Json(json!({"user_email": "nobody@matrix.test", "exchange": "BINANCE", "strategy_id": "SWING_V1"})),
        ),
        ("GET", "/ops/admin/trading-control") => (template.to_string(), Body::None),
        ("POST", "/ops/admin/trading-control") => (
            template.to_string(),
            Body::Json(json!({"trading_enabled": true, "reason": "permission matrix"})),
        ),
        ("GET", "/ops/admin/users/{user_id}/trading-control") => {
            (format!("/ops/admin/users/{nobody}/trading-control"), Body::None)
        }
        ("POST", "/ops/admin/users/{user_id}/trading-control") => (
            format!("/ops/admin/users/{nobody}/trading-control"),
            Body::Json(json!({"trading_enabled": true, "reason": "permission matrix"})),
        ),
        (
            "GET",
            "/ops/dashboard/summary" | "/ops/risk/daily-compare" | "/ops/security/posture" | "/ops/admin/risk/profiles",
        ) => (template.to_string(), Body::None),
        ("PUT", "/ops/admin/risk/profiles/{profile_name}") => (
            "/ops/admin/risk/profiles/no_such_profile".into(),
            Body::Json(
                json!({"max_risk_per_trade_pct": 0.5, "max_daily_loss_pct": 1.5, "max_trades_per_day": 3,
                                  "max_open_positions": 2, "cooldown_between_trades_minutes": 30, "max_leverage": 1,
                                  "stop_loss_required": true, "min_rr": 1.5}),
            ),
        ),
        ("POST", "/ops/security/reencrypt-exchange-secrets") => (
            template.to_string(),
            Body::Json(json!({"old_key": "not-a-key", "new_key": "not-a-key-either"})),
        ),
        ("POST", "/ops/admin/cleanup-smoke-users") => {
            ("/ops/admin/cleanup-smoke-users?dry_run=true".into(), Body::None)
        }
        ("POST", "/ops/market/prices") => (
            template.to_string(),
            Body::Json(json!({"exchange": "BINANCE", "prices": {}})),
        ),
        _ => panic!("the matrix has no request for {method} {template}: add one to request_for"),
    };
    (path, body)
}

struct Answer {
    status: u16,
    body: Value,
    www_authenticate: Option<String>,
}

async fn send(d: &Daemon, method: &str, path: &str, body: Body, token: Option<&str>) -> Answer {
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = no_redirect.request(Method::from_bytes(method.as_bytes()).unwrap(), d.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req = match body {
        Body::None => req,
        Body::Json(value) => req.json(&value),
        Body::Form(fields) => req.form(&fields),
    };
    let resp = req.send().await.unwrap();
    let www_authenticate = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        www_authenticate,
    }
}

/// What is wrong with `answer` for `expect` (`None`: it is what the gate says).
fn mismatch(expect: Expect, answer: &Answer) -> Option<String> {
    let detail = answer.body["detail"].as_str();
    let ok = match expect {
        Expect::Admitted => {
            let auth_refusal = answer.status == 401
                || (answer.status == 403 && matches!(detail, Some("Insufficient permissions" | "User is disabled")));
            let router_refusal = matches!(
                answer.body["code"].as_str(),
                Some("route_not_found" | "method_not_allowed")
            );
            !auth_refusal && !router_refusal && answer.status < 500
        }
        Expect::NotAuthenticated => {
            answer.status == 401
                && detail == Some("Not authenticated")
                && answer.www_authenticate.as_deref() == Some("Bearer")
        }
        Expect::Forbidden => answer.status == 403 && detail == Some("Insufficient permissions"),
        Expect::Disabled => answer.status == 403 && detail == Some("User is disabled"),
    };
    (!ok).then(|| format!("expected {expect:?}, got {} {}", answer.status, answer.body))
}

#[tokio::test]
async fn every_documented_route_answers_every_caller_as_its_gate_says() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let operations = crypto_saas::openapi::operations();
    let callers: Vec<Caller> = Caller::ALL.into_iter().filter(|c| *c != Caller::Anonymous).collect();

    // One fresh user per route and caller, so that what one call changes (a logout, a revoke-all,
    // a secret saved) cannot change what another call sees.
    let roles: Vec<String> = callers
        .iter()
        .map(|c| format!("'{}'", c.role().unwrap().as_str()))
        .collect();
    let labels: Vec<String> = callers
        .iter()
        .map(|c| format!("'{}'", c.label().replace(' ', "-")))
        .collect();
    db.sql(&format!(
        "WITH u AS (INSERT INTO users (email, password_hash, role) \
         SELECT 'r' || g || '.' || c.label || '@matrix.test', 'x', c.role \
         FROM generate_series(0, {}) g, unnest(ARRAY[{}], ARRAY[{}]) AS c(role, label) RETURNING id) \
         INSERT INTO trading_state (user_id) SELECT id FROM u",
        operations.len() - 1,
        roles.join(","),
        labels.join(",")
    ));
    let token_of = |index: usize, caller: Caller| -> Option<String> {
        let role = caller.role()?;
        let email = format!("r{index}.{}@matrix.test", caller.label().replace(' ', "-"));
        Some(mint_token(&email, role.as_str()))
    };

    // Trader A's EXECUTING signal and OPEN position, which `AnotherTrader` names.
    let (_, a) = seed_trader(&db, "a@matrix.test");
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let (status, body) = call(&d, Method::POST, "/signals", &a, Some(signal_body(symbol))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, signals) = call(&d, Method::POST, "/signals/claim?limit=2", &a, None).await;
    assert_eq!(status, 200, "{signals}");
    let (status, position) = call(
        &d,
        Method::POST,
        &format!(
            "/positions/open_from_signal?signal_id={}&qty=1",
            id_of(&signals[1]["id"])
        ),
        &a,
        None,
    )
    .await;
    assert_eq!(status, 200, "{position}");
    let a_ids = Ids {
        signal: id_of(&signals[0]["id"]),
        position: id_of(&position["id"]),
        nobody: "00000000-0000-4000-8000-000000000000".into(),
    };
    let fresh_ids = Ids {
        signal: "00000000-0000-4000-8000-000000000001".into(),
        position: "00000000-0000-4000-8000-000000000002".into(),
        nobody: "00000000-0000-4000-8000-000000000003".into(),
    };

    let mut failures = Vec::new();
    let mut grid: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for (index, (method, template)) in operations.iter().enumerate() {
        let Some(gate) = gate_of(method, template) else {
            failures.push(format!(
                "{method} {template}: documented but not classified in auth::ROUTES"
            ));
            continue;
        };
        let mut row = Vec::new();
        for caller in Caller::ALL {
            let ids = if caller == Caller::AnotherTrader {
                &a_ids
            } else {
                &fresh_ids
            };
            let (path, body) = request_for(method, template, ids);
            let token = token_of(index, caller);
            let answer = send(&d, method, &path, body, token.as_deref()).await;
            if let Some(wrong) = mismatch(expected(gate, caller), &answer) {
                failures.push(format!("{method} {path} as {}: {wrong}", caller.label()));
            }
            row.push(answer.status);
        }
        grid.insert(format!("{method} {template} ({gate:?})"), row);
    }
    let header: Vec<&str> = Caller::ALL.iter().map(|c| c.label()).collect();
    eprintln!("route | {}", header.join(" | "));
    for (route, statuses) in &grid {
        let statuses: Vec<String> = statuses.iter().map(u16::to_string).collect();
        eprintln!("{route} | {}", statuses.join(" | "));
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(grid.len(), ROUTES.len(), "every route of the table was called");
}

/// FastAPI judges the caller before the fields sent: a caller the gate refuses gets its 401 or
/// 403 even with a body and query parameters of the wrong shape, while an admitted one gets the
/// 422. A body that is not JSON at all is decoded first, so it is 422 for anyone.
#[tokio::test]
async fn the_caller_is_judged_before_the_fields_they_sent() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    db.sql(
        "WITH u AS (INSERT INTO users (email, password_hash, role) \
         SELECT r || '@order.test', 'x', r FROM unnest(ARRAY['trader','operator','viewer','admin','service','disabled']) r \
         RETURNING id) INSERT INTO trading_state (user_id) SELECT id FROM u",
    );
    let bad_query = "limit=not-a-number&signal_id=x&position_id=x&qty=x&exit_price=x&dry_run=x";
    let mut failures = Vec::new();
    let mut fields_refused = 0;
    for (method, template, gate) in ROUTES {
        if gate.roles().is_none() {
            continue;
        }
        let path = template
            .replace("{user_id}", "00000000-0000-4000-8000-000000000003")
            .replace("{exchange}", "BINANCE")
            .replace("{profile_name}", "no_such_profile");
        let path = format!("{path}?{bad_query}");
        for caller in Caller::ALL.into_iter().filter(|c| *c != Caller::AnotherTrader) {
            let expect = expected(*gate, caller);
            // An admitted caller's logout or revoke-all would end the token the rest use.
            if expect == Expect::Admitted && template.starts_with("/auth/") {
                continue;
            }
            let token = caller
                .role()
                .map(|role| mint_token(&format!("{}@order.test", role.as_str()), role.as_str()));
            let body = Body::Json(json!(["not", "an", "object"]));
            let answer = send(&d, method, &path, body, token.as_deref()).await;
            match expect {
                Expect::Admitted => fields_refused += usize::from(answer.status == 422),
                _ => {
                    if let Some(wrong) = mismatch(expect, &answer) {
                        failures.push(format!("{method} {path} as {}: {wrong}", caller.label()));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        fields_refused >= 30,
        "only {fields_refused} admitted calls were refused their fields"
    );

    let undecodable = client()
        .post(d.url("/signals"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    let (status, body) = json(undecodable).await;
    assert_eq!(
        (status, body["detail"][0]["type"].as_str()),
        (422, Some("json_invalid")),
        "{body}"
    );
}

/// The (method, path template, extractors named in its signature) of every handler in
/// `src/routes`, read from the source: what the compiler will enforce, as text. A handler is
/// registered either by a method attribute (`#[get("/p")]` above its `fn`) or by a resource
/// (`web::resource("/p").get(handler)`).
fn handlers() -> Vec<(String, String, Vec<&'static str>)> {
    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let line = line.trim();
            for method in METHODS {
                if let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) {
                    let path = rest.split('"').next().unwrap().to_string();
                    let signature = signature_from(&lines[i + 1..]);
                    found.push((method.to_ascii_uppercase(), path, extractors_in(&signature)));
                }
            }
            if let Some(rest) = line.split_once("web::resource(\"").map(|(_, r)| r) {
                let path = rest.split('"').next().unwrap().to_string();
                let chain = lines[i + 1..]
                    .iter()
                    .map(|l| l.trim())
                    .take_while(|l| l.starts_with('.'));
                for call in chain {
                    let Some((method, handler)) = METHODS.iter().find_map(|m| {
                        call.strip_prefix(&format!(".{m}("))
                            .and_then(|r| r.split(')').next())
                            .map(|h| (*m, h))
                    }) else {
                        continue;
                    };
                    let at = lines
                        .iter()
                        .position(|l| l.contains(&format!("async fn {handler}(")))
                        .unwrap_or_else(|| panic!("resource {path}: no fn {handler} in its file"));
                    let signature = signature_from(&lines[at..]);
                    found.push((method.to_ascii_uppercase(), path.clone(), extractors_in(&signature)));
                }
            }
        }
    }
    found
}

/// The lines from here through the first one that opens the function body, joined.
fn signature_from(lines: &[&str]) -> String {
    let body = lines
        .iter()
        .position(|l| l.trim_end().ends_with('{'))
        .unwrap_or(lines.len() - 1);
    lines[..=body].join(" ")
}

/// The gate extractors a signature names as whole words.
fn extractors_in(signature: &str) -> Vec<&'static str> {
    Gate::ALL
        .iter()
        .filter_map(|g| g.extractor())
        .filter(|e| {
            signature.match_indices(e).any(|(at, _)| {
                let before = signature[..at].chars().last();
                let after = signature[at + e.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .collect()
}

/// How many literal segments of `path` the handler template matches (`None`: it does not match).
fn template_match(template: &str, path: &str) -> Option<usize> {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    if t.len() != p.len() {
        return None;
    }
    let mut literal = 0;
    for (ts, ps) in t.iter().zip(&p) {
        if ts.starts_with('{') {
            continue;
        }
        if ts != ps {
            return None;
        }
        literal += 1;
    }
    Some(literal)
}

#[test]
fn every_handler_takes_the_extractor_its_route_table_entry_names() {
    let handlers = handlers();
    assert!(handlers.len() > 40, "handlers found in src/routes: {}", handlers.len());
    let mut failures = Vec::new();
    for (method, path, gate) in ROUTES {
        // The router prefers the most literal match (`/users/me/…` over `/users/{user_id}/…`).
        let handler = handlers
            .iter()
            .filter(|(m, _, _)| m == method)
            .filter_map(|h| template_match(&h.1, path).map(|score| (score, h)))
            .max_by_key(|(score, _)| *score)
            .map(|(_, h)| h);
        match handler {
            Some((_, _, named)) => {
                let wanted: Vec<&str> = gate.extractor().into_iter().collect();
                if *named != wanted {
                    failures.push(format!(
                        "{method} {path}: the table says {gate:?}, the handler takes {named:?}"
                    ));
                }
            }
            // Swagger UI's service serves the document; it has no handler of its own.
            None if (*method, *path) == ("GET", "/openapi.json") && *gate == Gate::Public => {}
            None => failures.push(format!("{method} {path}: no handler in src/routes")),
        }
    }
    for (method, template, _) in &handlers {
        if !ROUTES
            .iter()
            .any(|(m, p, _)| m == method && template_match(template, p).is_some())
        {
            failures.push(format!("{method} {template}: a handler with no entry in auth::ROUTES"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_document_marks_each_route_as_its_gate_does() {
    let doc: Value = serde_json::from_str(crypto_saas::openapi::DOCUMENT).unwrap();
    let signed_in = Gate::SignedIn.roles().unwrap();
    let mut failures = Vec::new();
    for (method, path, gate) in ROUTES {
        let operation = &doc["paths"][*path][method.to_ascii_lowercase()];
        let security = operation["security"].as_array().map(Vec::len).unwrap_or(0);
        let forbidden = operation["responses"]["403"]["description"].as_str().unwrap_or("");
        match gate.roles() {
            None if security != 0 => {
                failures.push(format!("{method} {path}: public, but the document asks for a token"))
            }
            None => {}
            Some(roles) => {
                if security == 0 || !operation["responses"]["401"].is_object() {
                    failures.push(format!(
                        "{method} {path}: gated, but the document asks for no token or lists no 401"
                    ));
                }
                let some_refused = signed_in.iter().any(|r| !roles.contains(r));
                if some_refused != forbidden.contains("Insufficient permissions") {
                    failures.push(format!(
                        "{method} {path}: {gate:?} {} roles, the document's 403 reads {forbidden:?}",
                        if some_refused { "refuses" } else { "refuses no" }
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Trader A's rows in every table that holds what isolation protects, as JSON.
fn rows_of(db: &TestDb, user_id: &str) -> String {
    [
        "signals",
        "positions",
        "exchange_secrets",
        "sessions",
        "audit_events",
        "trading_state",
    ]
    .iter()
    .map(|table| {
        db.sql(&format!(
            "SELECT coalesce(json_agg(t ORDER BY t::text), '[]') FROM {table} t WHERE user_id = '{user_id}'"
        ))
    })
    .collect::<Vec<_>>()
    .join("\n")
}

fn ids_in(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|item| id_of(&item["id"]))
        .collect()
}

#[tokio::test]
async fn no_trader_reads_or_changes_another_s_signals_positions_secrets_audit_or_sessions() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    // A logs in for real: a session with a refresh token B will try to end.
    let a = trader(&d, "a@isolation.test").await;
    let a_id = id_of(&call(&d, Method::GET, "/users/me", &a, None).await.1["id"]);
    let (_, login) = login_with(&d, "a@isolation.test", PASSWORD, None).await;
    let a_refresh = login["refresh_token"].as_str().unwrap().to_string();
    let (b_id, b) = seed_trader(&db, "b@isolation.test");

    // A: one signal CREATED, one EXECUTING, one OPENED with its position, and a secret.
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let (status, body) = call(&d, Method::POST, "/signals", &a, Some(signal_body(symbol))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, claimed) = call(&d, Method::POST, "/signals/claim?limit=2", &a, None).await;
    let (a_executing, a_opened) = (id_of(&claimed[0]["id"]), id_of(&claimed[1]["id"]));
    let (status, position) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={a_opened}&qty=1"),
        &a,
        None,
    )
    .await;
    assert_eq!(status, 200, "{position}");
    let a_position = id_of(&position["id"]);
    let (status, a_created) = call(&d, Method::POST, "/signals", &a, Some(signal_body("SOLUSDT"))).await;
    assert_eq!(status, 200, "{a_created}");
    let secret = json!({"exchange": "BINANCE", "api_key": "a-key-123456", "api_secret": "a-secret-123456"});
    let (status, body) = call(&d, Method::POST, "/users/exchange-secrets", &a, Some(secret)).await;
    assert_eq!(status, 201, "{body}");
    let a_signal_cursor = client()
        .get(d.url("/signals?limit=1"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap()
        .headers()
        .get("x-next-cursor")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let a_ids: Vec<String> = vec![
        a_executing.clone(),
        a_opened.clone(),
        id_of(&a_created["id"]),
        a_position.clone(),
    ];
    let before = rows_of(&db, &a_id);

    // B's own signal, so that B's lists and claims are not empty by accident.
    let (status, b_signal) = call(&d, Method::POST, "/signals", &b, Some(signal_body("BTCUSDT"))).await;
    assert_eq!(status, 200, "{b_signal}");
    let b_signal = id_of(&b_signal["id"]);

    let (status, list) = call(&d, Method::GET, "/signals", &b, None).await;
    assert_eq!(
        (status, ids_in(&list)),
        (200, vec![b_signal.clone()]),
        "B lists only B's signals"
    );
    let (status, list) = call(&d, Method::GET, &format!("/signals?cursor={a_signal_cursor}"), &b, None).await;
    assert_eq!(status, 200, "{list}");
    assert!(
        ids_in(&list).iter().all(|id| !a_ids.contains(id)),
        "A's cursor shows B nothing of A's"
    );
    let (status, claimed) = call(&d, Method::POST, "/signals/claim?limit=1000", &b, None).await;
    assert_eq!(
        (status, ids_in(&claimed)),
        (200, vec![b_signal.clone()]),
        "B claims only B's signal"
    );
    let (status, body) = call(
        &d,
        Method::POST,
        &format!("/positions/open_from_signal?signal_id={a_executing}&qty=1"),
        &b,
        None,
    )
    .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (403, json!("Cannot open another user's signal"))
    );
    let (status, body) = call(
        &d,
        Method::POST,
        &format!("/positions/close?position_id={a_position}&exit_price=90"),
        &b,
        None,
    )
    .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (403, json!("Cannot close another user's position"))
    );
    let (status, list) = call(&d, Method::GET, "/positions", &b, None).await;
    assert_eq!(
        (status, list),
        (200, json!([])),
        "B has no positions and sees none of A's"
    );
    let (status, list) = call(&d, Method::GET, "/users/exchange-secrets", &b, None).await;
    assert_eq!((status, list), (200, json!([])), "B sees none of A's secrets");
    let (status, body) = call(&d, Method::DELETE, "/users/exchange-secrets/BINANCE", &b, None).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (404, json!("No credentials found for this exchange"))
    );
    let b_secret = json!({"exchange": "BINANCE", "api_key": "b-key-123456", "api_secret": "b-secret-123456"});
    let (status, body) = call(&d, Method::POST, "/users/exchange-secrets", &b, Some(b_secret)).await;
    assert_eq!(status, 201, "B saves B's own secret: {body}");
    let (status, events) = call(&d, Method::GET, "/ops/audit/me?limit=1000", &b, None).await;
    assert_eq!(status, 200, "{events}");
    let events = events.as_array().unwrap();
    assert!(!events.is_empty(), "B's own events are listed");
    for event in events {
        assert_eq!(event["user_id"], b_id, "B's audit shows only B's events: {event}");
        let entity = event["entity_id"].as_str().unwrap_or("");
        assert!(!a_ids.iter().any(|id| id == entity), "none about A's rows: {event}");
    }
    let (status, body) = call(
        &d,
        Method::POST,
        "/auth/logout",
        &b,
        Some(json!({"refresh_token": a_refresh})),
    )
    .await;
    assert_eq!((status, body["detail"].clone()), (401, json!("Invalid refresh token")));
    let (status, risk) = call(&d, Method::GET, "/positions/risk/today", &b, None).await;
    assert_eq!((status, risk["user_id"].clone()), (200, json!(b_id)));

    // Nothing of A's changed: not a row, not an audit event.
    assert_eq!(rows_of(&db, &a_id), before, "A's rows are as they were");
    let (status, me) = call(&d, Method::GET, "/users/me", &a, None).await;
    assert_eq!(
        (status, me["id"].clone()),
        (200, json!(a_id)),
        "A's access token still works"
    );
    let (status, refreshed) = json(
        client()
            .post(d.url("/auth/refresh"))
            .json(&json!({"refresh_token": a_refresh}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "A's refresh token still works: {refreshed}");
    let (status, list) = call(&d, Method::GET, "/positions", &a, None).await;
    assert_eq!((status, ids_in(&list)), (200, vec![a_position.clone()]));
    assert_eq!(
        db.sql(&format!("SELECT status FROM positions WHERE id = '{a_position}'")),
        "OPEN"
    );
    assert_eq!(
        db.sql(&format!("SELECT status FROM signals WHERE id = '{a_executing}'")),
        "EXECUTING"
    );
}
