//! log4rs set-up: `log4rs.yaml` when present, else the console only.

pub mod request_id;

use std::path::Path;

use log4rs::append::console::ConsoleAppender;
use log4rs::config::{Appender, Config, Root};
use log4rs::encode::pattern::PatternEncoder;

/// Console pattern used when no log4rs file is found (the same fields as `log4rs.yaml`).
pub const PATTERN: &str = "{d(%Y-%m-%dT%H:%M:%S%.3f%Z)(utc)} {l:5} [{X(request_id)(-)}] {t} - {m}{n}";

/// Initialises logging from `path`; returns a warning to log when falling back to the console.
pub fn init(path: &Path) -> Result<Option<String>, String> {
    if path.is_file() {
        log4rs::init_file(path, Default::default())
            .map_err(|e| format!("{}: invalid log4rs configuration: {e}", path.display()))?;
        return Ok(None);
    }
    // Logs go to stderr: stdout is for what a command answers (a preview's JSON, the demo's URLs).
    let console = ConsoleAppender::builder()
        .target(log4rs::append::console::Target::Stderr)
        .encoder(Box::new(PatternEncoder::new(PATTERN)))
        .build();
    let config = Config::builder()
        .appender(Appender::builder().build("console", Box::new(console)))
        .build(Root::builder().appender("console").build(log::LevelFilter::Info))
        .map_err(|e| e.to_string())?;
    log4rs::init_config(config).map_err(|e| e.to_string())?;
    Ok(Some(format!(
        "{} not found: logging to the console only",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_repos_log4rs_yaml_routes_audit_lines_to_the_audit_log_only() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/log4rs.yaml");
        let config = log4rs::config::load_config_file(path, Default::default()).unwrap();
        let mut names: Vec<&str> = config.appenders().iter().map(|a| a.name()).collect();
        names.sort_unstable();
        assert_eq!(names, ["application", "audit", "console"]);
        assert_eq!(config.root().appenders(), ["console", "application"]);

        let audit = config.loggers().iter().find(|l| l.name() == "audit").unwrap();
        assert_eq!(audit.appenders(), ["audit"]);
        assert!(
            !audit.additive(),
            "audit lines must not reach the application log or the console"
        );
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.contains("kind: console\n    target: stderr"),
            "the console is stderr: stdout is for what a command answers"
        );
        assert!(text.contains("path: logs/odr-operations.log") && text.contains("path: logs/audit.log"));
        let audit_block = &text[text.find("  audit:").unwrap()..];
        let audit_block = &audit_block[..audit_block.find("policy:").unwrap()];
        assert!(
            audit_block.contains(r#"pattern: "{m}{n}""#),
            "the audit appender writes each JSON line as is: {audit_block}"
        );
        assert_eq!(text.matches("kind: size").count(), 2, "both files roll by size");
        assert_eq!(text.matches("count: ").count(), 2, "with a bounded number of files");
    }
}
