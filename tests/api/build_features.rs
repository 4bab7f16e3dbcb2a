//! A build without the `mariadb` feature: every way of naming a MariaDB URL refuses to start
//! with exit code 2 and one line that says how to build with MariaDB support.

use odr_operations::config::db_url::NO_MARIADB;

/// Runs the real binary with `args` in a fresh directory; returns (exit code, stderr).
fn run(props: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("operations.properties");
    std::fs::write(&file, props).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_odr-operations"))
        .current_dir(dir.path())
        .args(["--config", file.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    )
}

#[cfg(not(feature = "mariadb"))]
#[test]
fn a_build_without_mariadb_refuses_every_mysql_url_with_exit_2_and_the_build_command() {
    let url = "mysql://odr:secret@127.0.0.1:3306/odr";
    for key in ["datasource.odr.url", "datasource.stamdata.url"] {
        for command in ["serve", "migrate"] {
            let (code, stderr) = run(&format!("{key}={url}\n"), &[command]);
            assert_eq!(code, Some(2), "{key} {command}: {stderr}");
            let file = stderr.split(": ").next().unwrap_or_default();
            assert_eq!(
                stderr,
                format!("{file}: {key} = \"mysql://odr:***@127.0.0.1:3306/odr\" cannot be used: {NO_MARIADB}"),
                "one line naming the key and the build command, the password masked"
            );
        }
    }
    for args in [
        &["demo", "--mysql", url][..],
        &["simulate", "--seed-db", url][..],
        &["bench", "--mysql", url][..],
    ] {
        let (code, stderr) = run("", args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            format!("odr-operations: mysql://odr:***@127.0.0.1:3306/odr: {NO_MARIADB}"),
            "{args:?}"
        );
    }
    assert!(NO_MARIADB.contains("cargo build --release --features mariadb"));
    assert!(NO_MARIADB.contains("libmariadb-dev") && NO_MARIADB.contains("pkg-config"));
}

#[cfg(feature = "mariadb")]
#[test]
fn a_build_with_mariadb_accepts_mysql_urls() {
    // Unreachable port: the URL is accepted and migrate fails to connect (exit 1), not exit 2.
    let (code, stderr) = run("datasource.odr.url=mysql://root@127.0.0.1:1/odr\n", &["migrate"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains(NO_MARIADB), "{stderr}");
}
