//! Tests of the configuration: the printed default, the layering, the checks naming the
//! offending key, and secrets never printed.

use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[test]
fn printed_default_parses_back_and_lists_every_field() {
    let text = Config::default().to_documented_toml();
    let parsed: Config = toml::from_str(&text).expect("printed default parses");
    assert_eq!(parsed, Config::default());
    let all = [
        ("server", Config::default().server.fields()),
        ("store", Config::default().store.fields()),
        ("auth", Config::default().auth.fields()),
        ("limits", Config::default().limits.fields()),
        ("broker", Config::default().broker.fields()),
        ("log", Config::default().log.fields()),
        ("web", Config::default().web.fields()),
        ("metrics", Config::default().metrics.fields()),
    ];
    for (section, fields) in all {
        assert!(text.contains(&format!("[{section}]")), "{section}");
        for field in fields {
            assert!(
                !field.doc.is_empty(),
                "{section}.{} undocumented",
                field.name
            );
            let set = format!("\n{} = ", field.name);
            let unset = format!("\n# {} = ", field.name);
            assert!(
                text.contains(&set) || text.contains(&unset),
                "{section}.{} missing",
                field.name
            );
        }
    }
}

#[test]
fn empty_configuration_is_the_default() {
    let config = Config::load_from(None, env(&[])).expect("loads");
    assert_eq!(config, Config::default());
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.sqlite_path(), PathBuf::from("./data/tuitalk.db"));
}

#[test]
fn file_then_environment_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"0.0.0.0:9000\"\n[limits]\nmax_rooms = 7\nsend_queue = 300\n",
    )
    .expect("write");
    let config = Config::load_from(
        Some(&file),
        env(&[
            ("TUITALK__LIMITS__SEND_QUEUE", "333"),
            ("TUITALK__AUTH__SECRET", "0123456789abcdef0123"),
        ]),
    )
    .expect("loads");
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(config.limits.max_rooms, 7);
    assert_eq!(config.limits.send_queue, 333);
    assert_eq!(
        config.auth.secret.as_ref().map(Secret::expose),
        Some("0123456789abcdef0123")
    );
    assert_eq!(config.limits.max_text_chars, 4000);
}

#[test]
fn unknown_keys_and_bad_values_name_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[limits]\nmax_romz = 7\n").expect("write");
    let err = Config::load_from(Some(&file), env(&[])).expect_err("unknown key");
    assert!(err.to_string().contains("max_romz"), "{err}");

    std::fs::write(&file, "[limits]\nsend_queue = 0\n").expect("write");
    let err = Config::load_from(Some(&file), env(&[])).expect_err("zero");
    assert!(err.to_string().contains("limits.send_queue"), "{err}");

    std::fs::write(&file, "[server]\nlisten = \"nowhere\"\n").expect("write");
    let err = Config::load_from(Some(&file), env(&[])).expect_err("bad address");
    assert!(err.to_string().contains("listen"), "{err}");

    let err = Config::load_from(None, env(&[("TUITALK__LIMITS__MAX_ROOMS", "many")]))
        .expect_err("not a number");
    assert!(err.to_string().contains("max_rooms"), "{err}");
}

#[test]
fn broker_settings_are_checked_without_printing_the_password() {
    let config = Config::load_from(
        None,
        env(&[(
            "TUITALK__BROKER__REDIS_NODES",
            "redis://:pw-123@10.0.0.1:6379, redis://:pw-123@10.0.0.2:6379",
        )]),
    )
    .expect("loads");
    let nodes = config.broker.redis_node_list();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[1].expose(), "redis://:pw-123@10.0.0.2:6379");
    assert!(!format!("{config:?}").contains("pw-123"));

    let err = Config::load_from(
        None,
        env(&[("TUITALK__BROKER__REDIS_NODES", "http://:pw-123@x")]),
    )
    .expect_err("not a redis URL");
    assert!(err.to_string().contains("broker.redis_nodes"), "{err}");
    assert!(!err.to_string().contains("pw-123"), "{err}");

    let err = Config::load_from(
        None,
        env(&[
            ("TUITALK__BROKER__PRESENCE_REFRESH_MS", "5000"),
            ("TUITALK__BROKER__PRESENCE_EXPIRY_MS", "5000"),
        ]),
    )
    .expect_err("expiry must exceed refresh");
    assert!(
        err.to_string().contains("broker.presence_expiry_ms"),
        "{err}"
    );

    let err = Config::load_from(
        None,
        env(&[("TUITALK__BROKER__WATCH_MAX_DISPATCH", "9999")]),
    )
    .expect_err("above send_queue");
    assert!(
        err.to_string().contains("broker.watch_max_dispatch"),
        "{err}"
    );
}

#[test]
fn secret_never_prints() {
    let secret = Secret::new("hunter2hunter2hunter2");
    assert_eq!(format!("{secret}"), "[redacted]");
    assert_eq!(format!("{secret:?}"), "[redacted]");
    let mut config = Config::default();
    config.auth.secret = Some(secret);
    assert!(!format!("{config:?}").contains("hunter2"));
    assert!(!config.to_documented_toml().contains("hunter2"));
}

#[test]
fn database_url_is_a_secret_and_checked() {
    let url = "postgres://tuitalk:pw-s3cret@127.0.0.1:5432/tuitalk";
    let config = Config::load_from(
        None,
        env(&[
            ("TUITALK__STORE__DATABASE_URL", url),
            ("TUITALK__STORE__POOL_SIZE", "4"),
            ("TUITALK__STORE__ACQUIRE_TIMEOUT_MS", "500"),
        ]),
    )
    .expect("loads");
    assert_eq!(
        config.store.database_url.as_ref().map(Secret::expose),
        Some(url)
    );
    assert_eq!(config.store.pool_size, 4);
    assert_eq!(config.store.acquire_timeout_ms, 500);
    assert!(!format!("{config:?}").contains("pw-s3cret"));
    assert!(!config.to_documented_toml().contains("pw-s3cret"));

    let bad = "postgres://tuitalk:pw-s3cret@host:notaport/db";
    let err = Config::load_from(None, env(&[("TUITALK__STORE__DATABASE_URL", bad)]))
        .expect_err("bad url");
    assert!(err.to_string().contains("store.database_url"), "{err}");
    assert!(!err.to_string().contains("pw-s3cret"), "{err}");
    let err = Config::load_from(None, env(&[("TUITALK__STORE__POOL_SIZE", "0")]))
        .expect_err("empty pool");
    assert!(err.to_string().contains("store.pool_size"), "{err}");
}

#[test]
fn trusted_proxies_come_from_a_comma_separated_variable_and_are_checked() {
    let config = Config::load_from(
        None,
        env(&[
            ("TUITALK__SERVER__TRUSTED_PROXIES", "10.0.0.5,10.1.0.0/16"),
            ("TUITALK__BROKER__REDIS_NODES", "redis://a:1,redis://b:2"),
        ]),
    )
    .expect("loads");
    assert_eq!(config.server.trusted_proxies, ["10.0.0.5", "10.1.0.0/16"]);
    assert_eq!(config.broker.redis_node_list().len(), 2, "still one string");
    let err = Config::load_from(None, env(&[("TUITALK__SERVER__TRUSTED_PROXIES", "nginx")]))
        .expect_err("not an address");
    assert!(err.to_string().contains("server.trusted_proxies"), "{err}");
}

#[test]
fn web_lists_from_the_environment_are_checked() {
    let config = Config::load_from(
        None,
        env(&[
            (
                "TUITALK__WEB__SERVERS",
                "ws://127.0.0.1:9000/ws, wss://b.example/ws",
            ),
            ("TUITALK__WEB__ALLOWED_ORIGINS", "http://127.0.0.1:9000"),
            ("TUITALK__WEB__CORS_ORIGINS", ""),
        ]),
    )
    .expect("loads");
    assert_eq!(
        config.web.servers,
        ["ws://127.0.0.1:9000/ws", " wss://b.example/ws"]
    );
    assert_eq!(config.web.allowed_origins, ["http://127.0.0.1:9000"]);
    for (key, value, named) in [
        (
            "TUITALK__WEB__SERVERS",
            "http://b.example/ws",
            "web.servers",
        ),
        (
            "TUITALK__WEB__SERVERS",
            "ws://b.example/ws?x",
            "web.servers",
        ),
        (
            "TUITALK__WEB__ALLOWED_ORIGINS",
            "https://a.example/path",
            "web.allowed_origins",
        ),
        ("TUITALK__WEB__CORS_ORIGINS", "null", "web.cors_origins"),
    ] {
        let err = Config::load_from(None, env(&[(key, value)])).expect_err(value);
        assert!(err.to_string().contains(named), "{err}");
    }
}

#[test]
fn metrics_token_is_a_secret_and_checked() {
    let token = "metrics-t0ken-metrics-t0ken";
    let config =
        Config::load_from(None, env(&[("TUITALK__METRICS__BEARER_TOKEN", token)])).expect("loads");
    assert_eq!(
        config.metrics.bearer_token.as_ref().map(Secret::expose),
        Some(token)
    );
    assert!(!format!("{config:?}").contains(token));
    assert!(!config.to_documented_toml().contains(token));
    let err = Config::load_from(None, env(&[("TUITALK__METRICS__BEARER_TOKEN", "short")]))
        .expect_err("short token");
    assert!(err.to_string().contains("metrics.bearer_token"), "{err}");
}
