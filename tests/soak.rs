//! The soak (on demand only): `benches/soak.sh` holds 2,000 sockets with sessions and loads
//! GET / with wrk for 60 s against a release `serve`, sampling its RSS every second.
//!
//!     cargo test --test tests soak -- --ignored
use std::process::Command;

use crate::util::repo;

/// The `SOAK key=value …` line the script prints last, as (key, value) pairs.
fn soak_line(stdout: &str) -> Option<Vec<(String, String)>> {
    let line = stdout.lines().rev().find(|l| l.starts_with("SOAK "))?;
    Some(
        line.split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect(),
    )
}

#[test]
#[ignore = "soak: 60 s; run with cargo test --test tests soak -- --ignored"]
fn two_thousand_sockets_and_steady_http_for_a_minute_without_errors_or_memory_growth() {
    let out = Command::new("bash")
        .arg(repo().join("benches/soak.sh"))
        .current_dir(repo())
        .env_remove("SOAK_SOCKETS")
        .env_remove("SOAK_SECONDS")
        .env_remove("SOAK_CONNECTIONS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "soak.sh failed ({}):\n{stdout}\n{stderr}", out.status);
    let fields = soak_line(&stdout).unwrap_or_else(|| panic!("no SOAK line:\n{stdout}\n{stderr}"));
    let get = |key: &str| -> f64 {
        let value = fields.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no {key} in the SOAK line"));
        value.1.parse().unwrap_or_else(|_| panic!("{key}={} is not a number", value.1))
    };
    println!("{stdout}");
    assert_eq!(get("errors"), 0.0, "errors during the soak:\n{stdout}");
    assert_eq!(get("sockets"), 2000.0, "every socket stays connected:\n{stdout}");
    let (early, late) = (get("rss20"), get("rss60"));
    assert!(early > 0.0 && late > 0.0, "{stdout}");
    let growth = (late - early) / early * 100.0;
    assert!(growth.abs() <= 10.0, "RSS moved {growth:+.1}% between second 20 and 60 (over 10%):\n{stdout}");
}
