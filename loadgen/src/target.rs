//! Where the load may go: loopback only. Also keeps secrets out of the recorded command line.

use std::net::IpAddr;

use reqwest::Url;

/// True for `localhost`, 127.0.0.0/8 and ::1 (IPv6 literals may come bracketed).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// The base URL of the daemon under test, refused unless it is http(s) on a loopback address.
pub fn loopback_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("--base-url {raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("--base-url must be http(s), got {}", url.scheme()));
    }
    match url.host_str() {
        Some(host) if is_loopback_host(host) => Ok(url),
        Some(host) => Err(format!(
            "refusing to load {host}: the load generator only targets loopback (127.0.0.1, ::1, localhost)"
        )),
        None => Err(format!("--base-url {raw:?} has no host")),
    }
}

/// The database the seeding CLI writes to must be local too (a URL with a loopback host, or a
/// Unix socket); key=value connection strings are checked on their `host=`.
pub fn check_local_database(raw: &str) -> Result<(), String> {
    let host = if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        let url = Url::parse(raw).map_err(|_| "--database-url is not a valid URL".to_string())?;
        url.host_str().unwrap_or("").to_string()
    } else {
        raw.split_whitespace()
            .find_map(|kv| kv.strip_prefix("host="))
            .unwrap_or("")
            .to_string()
    };
    if host.is_empty() || host.starts_with('/') || host.starts_with("%2F") || is_loopback_host(&host) {
        Ok(())
    } else {
        Err(format!(
            "refusing database host {host}: the load generator seeds local databases only"
        ))
    }
}

/// The command line as recorded in the results, with secret values replaced.
pub fn redact_args(args: &[String]) -> Vec<String> {
    const SECRET: [&str; 2] = ["--secret-key", "--database-url"];
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        if hide_next {
            out.push("<redacted>".to_string());
            hide_next = false;
        } else if let Some((flag, _)) = arg.split_once('=').filter(|(f, _)| SECRET.contains(f)) {
            out.push(format!("{flag}=<redacted>"));
        } else {
            hide_next = SECRET.contains(&arg.as_str());
            out.push(arg.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        for ok in [
            "http://127.0.0.1:8000",
            "http://127.1.2.3:1",
            "http://localhost:8000/",
            "http://LOCALHOST",
            "http://[::1]:8000",
            "https://127.0.0.1",
        ] {
            assert!(loopback_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8000",
            "http://example.com",
            "http://0.0.0.0:8000",
            "http://[::2]:80",
            "http://localhost.example.com",
            "ftp://127.0.0.1",
            "127.0.0.1:8000",
            "not a url",
        ] {
            assert!(loopback_base_url(bad).is_err(), "{bad}");
        }
        assert!(loopback_base_url("http://192.168.1.5")
            .unwrap_err()
            .contains("only targets loopback"));
    }

    #[test]
    fn database_must_be_local() {
        assert!(check_local_database("postgres://postgres@127.0.0.1:5432/x").is_ok());
        assert!(check_local_database("postgresql://u:p@localhost/x").is_ok());
        assert!(check_local_database("host=/tmp dbname=x").is_ok());
        assert!(check_local_database("postgres://u@db.internal:5432/x").is_err());
        assert!(check_local_database("host=10.1.1.1 dbname=x").is_err());
    }

    #[test]
    fn secrets_are_redacted_from_the_command_line() {
        let args: Vec<String> = [
            "loadgen",
            "--secret-key",
            "s3cret",
            "--database-url=postgres://u:pw@127.0.0.1/x",
            "--duration",
            "5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = redact_args(&args).join(" ");
        assert_eq!(
            out,
            "loadgen --secret-key <redacted> --database-url=<redacted> --duration 5"
        );
        assert!(!out.contains("s3cret") && !out.contains("pw@"));
    }
}
