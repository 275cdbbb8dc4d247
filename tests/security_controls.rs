//! The controls docs/security.md lists that no other suite proves end to end: the stored hash's
//! parameters, the tokens' lifetimes, algorithm pinning, the security headers of the dashboard
//! page and of API answers, the dependency policy in CI — and that every test the document
//! names exists, so the document cannot drift from the suite.

mod common;

use std::path::PathBuf;

use base64::Engine;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn claims(token: &str) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    serde_json::from_slice(&b64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn stored_password_hashes_are_argon2id_19_mib_2_passes_1_lane_with_their_own_salt() {
    use argon2::password_hash::PasswordHash;
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "first@desk.io").await;
    register(&d, "second@desk.io").await;
    admin(&d, "root@desk.io").await;
    let stored = db.sql("SELECT password_hash FROM users ORDER BY email");
    let hashes: Vec<&str> = stored.lines().collect();
    assert_eq!(hashes.len(), 3, "{stored}");
    let mut salts = Vec::new();
    for text in &hashes {
        assert!(!text.contains(PASSWORD));
        let parsed = PasswordHash::new(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed.algorithm.as_str(), "argon2id", "{text}");
        assert_eq!(parsed.version, Some(0x13), "{text}");
        let params = argon2::Params::try_from(&parsed).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19 * 1024, 2, 1),
            "{text}"
        );
        let mut salt = [0u8; 64];
        assert_eq!(parsed.salt.unwrap().decode_b64(&mut salt).unwrap().len(), 16, "{text}");
        assert_eq!(parsed.hash.unwrap().len(), 32, "{text}");
        salts.push(parsed.salt.unwrap().as_str().to_string());
    }
    salts.sort();
    salts.dedup();
    assert_eq!(salts.len(), 3, "the same password, three salts");
}

#[tokio::test]
async fn access_tokens_live_60_minutes_and_refresh_tokens_7_days() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "clock@desk.io").await;
    let (status, pair) = login_with(&d, "clock@desk.io", PASSWORD, None).await;
    assert_eq!(status, 200, "{pair}");
    assert_eq!(pair["expires_in"], 3600);
    let access = claims(pair["access_token"].as_str().unwrap());
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (access["iat"].as_i64().unwrap(), access["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 60 * 60, "{access}");
    assert!((iat - now).abs() <= 5, "issued now: {access}");
    let refresh = claims(pair["refresh_token"].as_str().unwrap());
    let (iat, exp) = (refresh["iat"].as_i64().unwrap(), refresh["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 7 * 24 * 60 * 60, "{refresh}");
    assert_eq!(refresh["typ"], "refresh");

    // No leeway: a token one second past its `exp` is refused.
    let stale = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "clock@desk.io", "role": "trader", "iat": now - 3601, "exp": now - 1}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET_KEY.as_bytes()),
    )
    .unwrap();
    let (status, body) = call(&d, Method::GET, "/users/me", &stale, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("invalid_token")));
}

/// A token with the header `header`, the claims `claims` and the HMAC-SHA256 of both under
/// `key` as its signature, whatever the header says (the algorithm-confusion forgery).
fn hs256_signed_as(header: &Value, claims: &Value, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!("{}.{}", b64.encode(header.to_string()), b64.encode(claims.to_string()));
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn only_hs256_is_accepted_whatever_the_header_claims() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "pinned@desk.io").await;
    let exp = chrono::Utc::now().timestamp() + 600;
    let claims = json!({"sub": "pinned@desk.io", "role": "trader", "exp": exp});
    let key = SECRET_KEY.as_bytes();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64.encode(json!({"alg": alg, "typ": "JWT"}).to_string()),
            b64.encode(claims.to_string())
        )
    };
    let signed =
        |alg: Algorithm| jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key)).unwrap();

    // The control: the same claims, HS256 under the daemon's key, are accepted.
    let good = hs256_signed_as(&json!({"alg": "HS256", "typ": "JWT"}), &claims, key);
    assert_eq!(call(&d, Method::GET, "/users/me", &good, None).await.0, 200);

    let mut forged = vec![
        ("alg none".to_string(), unsigned("none")),
        ("alg None".to_string(), unsigned("None")),
        ("alg NONE".to_string(), unsigned("NONE")),
        ("HS256 without a signature".to_string(), unsigned("HS256")),
        ("HS384 under the key".to_string(), signed(Algorithm::HS384)),
        ("HS512 under the key".to_string(), signed(Algorithm::HS512)),
    ];
    // Asymmetric algorithms named in the header, signed with the shared key as if it were the
    // public key (the classic confusion attack).
    for alg in ["RS256", "RS512", "PS256", "ES256", "EdDSA"] {
        forged.push((
            format!("{alg} header, HMAC under the key"),
            hs256_signed_as(&json!({"alg": alg, "typ": "JWT"}), &claims, key),
        ));
    }
    for (name, token) in &forged {
        let (status, body) = call(&d, Method::GET, "/users/me", token, None).await;
        assert_eq!(
            (status, body),
            (
                401,
                json!({"detail": "Invalid authentication credentials", "code": "invalid_token"})
            ),
            "{name}"
        );
    }
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_dashboard_page_has_a_strict_csp_and_api_answers_are_neither_cached_nor_sniffed() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let page = client().get(d.url("/ops/dashboard")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = header(&page, "content-security-policy").expect("a CSP on the page");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    for needed in [
        "default-src 'none'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(directives.contains(&needed), "CSP lacks {needed:?}: {csp}");
    }
    // Nothing loads from elsewhere and nothing evaluates strings as code.
    for refused in ["http:", "https:", "*", "'unsafe-eval'"] {
        assert!(!csp.contains(refused), "CSP allows {refused}: {csp}");
    }
    assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&page, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(&page, "cache-control"), Some("no-store"));

    register(&d, "headers@desk.io").await;
    let login = client()
        .post(d.url("/auth/login"))
        .form(&[("username", "headers@desk.io"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let answers = vec![
        ("a token answer", login),
        (
            "an authenticated read",
            client()
                .get(d.url("/users/me"))
                .bearer_auth(mint_token("headers@desk.io", "trader"))
                .send()
                .await
                .unwrap(),
        ),
        ("a refusal", client().get(d.url("/users/me")).send().await.unwrap()),
        (
            "an unknown path",
            client().get(d.url("/no/such/route")).send().await.unwrap(),
        ),
        (
            "a malformed body",
            client()
                .post(d.url("/auth/register"))
                .header("content-type", "application/json")
                .body("{")
                .send()
                .await
                .unwrap(),
        ),
    ];
    for (what, resp) in &answers {
        assert_eq!(header(resp, "cache-control"), Some("no-store"), "{what}");
        assert_eq!(header(resp, "x-content-type-options"), Some("nosniff"), "{what}");
        assert!(
            header(resp, "content-type").is_some_and(|t| t.starts_with("application/json")),
            "{what} is JSON"
        );
    }
}

#[test]
fn ci_checks_licenses_bans_and_sources_and_the_workflow_checks_advisories() {
    let run = read(".ci/run");
    assert!(
        run.lines()
            .any(|l| l.trim_start().starts_with("cargo deny") && l.ends_with("check licenses bans sources")),
        ".ci/run checks licenses, bans and sources"
    );
    let workflow = read(".github/workflows/ci.yml");
    assert!(
        workflow.contains("cargo deny --locked check advisories"),
        "the workflow checks advisories"
    );
    let pinned = run
        .lines()
        .find_map(|l| l.strip_prefix("CARGO_DENY_VERSION="))
        .expect("cargo-deny's version is pinned in .ci/run");
    assert!(
        workflow.contains(&format!("cargo-deny@{pinned}")),
        "the workflow installs the version .ci/run pins ({pinned})"
    );
    let deny: toml::Value = toml::from_str(&read("deny.toml")).unwrap();
    assert_eq!(deny["sources"]["unknown-registry"].as_str(), Some("deny"));
    assert_eq!(deny["sources"]["unknown-git"].as_str(), Some("deny"));
    assert_eq!(
        deny["sources"]["allow-registry"],
        toml::Value::Array(vec!["https://github.com/rust-lang/crates.io-index".into()])
    );
    assert_eq!(deny["bans"]["wildcards"].as_str(), Some("deny"));
}

/// The `file::test` references of docs/security.md: a path ending in `.rs`, then `::`, then a name.
fn named_tests(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for quoted in doc.split('`').skip(1).step_by(2) {
        if let Some((file, name)) = quoted.split_once(".rs::") {
            out.push((format!("{file}.rs"), name.to_string()));
        }
    }
    out
}

#[test]
fn every_test_docs_security_md_names_exists_and_is_a_test() {
    let doc = read("docs/security.md");
    let named = named_tests(&doc);
    assert!(named.len() >= 30, "docs/security.md names {} tests", named.len());
    let mut missing = Vec::new();
    for (file, name) in &named {
        let Ok(source) = std::fs::read_to_string(repo().join(file)) else {
            missing.push(format!("{file} (no such file)"));
            continue;
        };
        let lines: Vec<&str> = source.lines().collect();
        let is_test = lines.iter().enumerate().any(|(i, line)| {
            let defines = line.trim_start().starts_with(&format!("fn {name}("))
                || line.trim_start().starts_with(&format!("async fn {name}("));
            // The attribute is on one of the few lines above (doc comments may sit between).
            defines
                && lines[i.saturating_sub(6)..i]
                    .iter()
                    .any(|l| l.trim_start().starts_with("#[test]") || l.trim_start().starts_with("#[tokio::test"))
        });
        if !is_test {
            missing.push(format!("{file}::{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/security.md names tests that do not exist: {missing:#?}"
    );
}
