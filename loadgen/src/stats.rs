//! Latency statistics: exact percentiles over every recorded sample (microseconds).

use std::time::Duration;

use serde::Serialize;

/// The nearest-rank percentile `p` (0 < p ≤ 100) of ascending `sorted` samples.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Throughput and latency of one measured phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub requests: u64,
    pub elapsed_s: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

/// Summarises the samples (sorted in place) measured over `elapsed`.
pub fn summarize(samples: &mut [u32], elapsed: Duration) -> Summary {
    samples.sort_unstable();
    let requests = samples.len() as u64;
    let secs = elapsed.as_secs_f64();
    let total: u64 = samples.iter().map(|&s| u64::from(s)).sum();
    Summary {
        requests,
        elapsed_s: secs,
        rps: if secs > 0.0 { requests as f64 / secs } else { 0.0 },
        p50_ms: percentile(samples, 50.0).map(ms).unwrap_or(0.0),
        p99_ms: percentile(samples, 99.0).map(ms).unwrap_or(0.0),
        max_ms: samples.last().copied().map(ms).unwrap_or(0.0),
        mean_ms: if requests > 0 {
            total as f64 / requests as f64 / 1000.0
        } else {
            0.0
        },
    }
}

/// A duration in whole microseconds, saturating (a sample never overflows).
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// True for an outcome key that is a 2xx status.
pub fn is_success(key: &str) -> bool {
    key.len() == 3 && key.starts_with('2') && key.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.1), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        let v = [10, 20, 30, 40];
        assert_eq!(percentile(&v, 50.0), Some(20));
        assert_eq!(percentile(&v, 51.0), Some(30));
        assert_eq!(percentile(&v, 99.0), Some(40));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&v, 0.0), None);
        assert_eq!(percentile(&v, 101.0), None);
    }

    #[test]
    fn summary_sorts_and_converts_to_milliseconds() {
        let mut samples = vec![3000, 1000, 2000, 4000];
        let s = summarize(&mut samples, Duration::from_secs(2));
        assert_eq!(samples, vec![1000, 2000, 3000, 4000]);
        assert_eq!(s.requests, 4);
        assert_eq!(s.rps, 2.0);
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 4.0);
        assert_eq!(s.max_ms, 4.0);
        assert_eq!(s.mean_ms, 2.5);
    }

    #[test]
    fn empty_summary_is_zero_not_nan() {
        let s = summarize(&mut [], Duration::ZERO);
        assert_eq!(s, Summary::default());
    }

    #[test]
    fn success_keys() {
        assert!(is_success("200") && is_success("201"));
        assert!(!is_success("404") && !is_success("transport") && !is_success("2000") && !is_success("2xx"));
        assert_eq!(micros(Duration::from_millis(3)), 3000);
        assert_eq!(micros(Duration::from_secs(1 << 40)), u32::MAX);
    }
}
