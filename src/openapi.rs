//! The OpenAPI document (`docs/openapi.json`, written by hand to describe the whole contract),
//! and the path templates the default service uses to tell 405 (known path, wrong method) from
//! 404 (unknown path).

use std::sync::OnceLock;

/// The document as committed.
pub const DOCUMENT: &str = include_str!("../docs/openapi.json");

/// The parsed document (`Null` if it does not parse — a unit test makes sure it does).
pub fn document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(DOCUMENT).unwrap_or(serde_json::Value::Null))
}

/// One segment of a path template: a literal, or `{param}` (any one non-empty segment).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

fn templates() -> &'static [Vec<Segment>] {
    static TEMPLATES: OnceLock<Vec<Vec<Segment>>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        document()
            .get("paths")
            .and_then(|p| p.as_object())
            .map(|paths| paths.keys().map(|k| parse_template(k)).collect())
            .unwrap_or_default()
    })
}

fn parse_template(template: &str) -> Vec<Segment> {
    split(template)
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Segment::Param
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect()
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

fn matches(template: &[Segment], path: &str) -> bool {
    let mut segments = split(path);
    for expected in template {
        match (expected, segments.next()) {
            (Segment::Literal(lit), Some(seg)) if lit == seg => {}
            (Segment::Param, Some(seg)) if !seg.is_empty() => {}
            _ => return false,
        }
    }
    segments.next().is_none()
}

/// True when the contract documents `path` (under some method).
pub fn is_known_path(path: &str) -> bool {
    path.starts_with('/') && templates().iter().any(|t| matches(t, path))
}

/// How concrete a template is, segment by segment: OpenAPI matches a concrete path before a
/// templated one (`/users/me/risk-settings` before `/users/{user_id}/risk-settings`).
fn specificity(template: &[Segment]) -> Vec<bool> {
    template.iter().map(|s| matches!(s, Segment::Literal(_))).collect()
}

/// The methods the contract documents for `path` (empty for an unknown path), from the most
/// concrete template that matches it.
pub fn allowed_methods(path: &str) -> Vec<String> {
    let matching: Vec<(String, Vec<bool>)> = operations()
        .into_iter()
        .filter_map(|(method, template)| {
            let template = parse_template(&template);
            (path.starts_with('/') && matches(&template, path)).then(|| (method, specificity(&template)))
        })
        .collect();
    let best = matching.iter().map(|(_, s)| s.clone()).max();
    let mut methods: Vec<String> = matching
        .into_iter()
        .filter(|(_, s)| Some(s) == best.as_ref())
        .map(|(method, _)| method)
        .collect();
    methods.sort();
    methods.dedup();
    methods
}

/// Every (METHOD, path template) the document lists.
pub fn operations() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = document().get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            if let Some(methods) = item.as_object() {
                for method in methods.keys() {
                    out.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_parses_and_is_openapi_3() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert!(doc["paths"].as_object().unwrap().len() > 30);
    }

    #[test]
    fn templates_match_one_segment_per_param() {
        assert!(is_known_path("/auth/login"));
        assert!(is_known_path("/users/exchange-secrets/BINANCE"));
        assert!(is_known_path("/"));
        assert!(!is_known_path("/users/exchange-secrets/BINANCE/x"));
        assert!(!is_known_path("/users/exchange-secrets/"));
        assert!(!is_known_path("/auth/login/"));
        assert!(!is_known_path("/no/such/route"));
        assert!(!is_known_path(""));
    }

    #[test]
    fn a_concrete_path_answers_with_its_own_methods() {
        assert_eq!(allowed_methods("/users/me/risk-settings"), ["GET"]);
        let some_user = "/users/7d1c0c4e-58c1-4f5e-9a53-9ad1f7c4b0a1/risk-settings";
        assert_eq!(allowed_methods(some_user), ["GET", "PUT"]);
        assert_eq!(allowed_methods("/signals"), ["GET", "POST"]);
        assert!(allowed_methods("/no/such/route").is_empty());
    }
}
