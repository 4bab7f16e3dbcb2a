//! Reading `operations.properties` by the Java properties rules operators rely on (escapes,
//! `\` line continuation, `=`, `:` or blank as separator, `#`/`!` comments), with the
//! `java-properties` crate. Our reading: the file is UTF-8 (Danish template names stay
//! readable), and values are trimmed at both ends (SPEC §3).

use std::collections::HashMap;

use java_properties::{LineContent, PropertiesIter};

use super::keys;
use super::ConfigError;

/// The values of known keys, and warnings for unknown and repeated keys.
pub fn parse(file: &str, text: &str) -> Result<(HashMap<String, String>, Vec<String>), ConfigError> {
    let mut values = HashMap::new();
    let mut warnings = Vec::new();
    for line in PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8) {
        let line = line.map_err(|e| unreadable(file, text, e))?;
        let number = line.line_number();
        let LineContent::KVPair(key, value) = line.consume_content() else {
            continue;
        };
        if keys::find(&key).is_none() {
            warnings.push(format!(
                "{file}: unknown key {} on line {number} is ignored",
                shown(&key)
            ));
            continue;
        }
        if values.insert(key.clone(), value.trim().to_string()).is_some() {
            warnings.push(format!("{file}: key {key} is set more than once; line {number} wins"));
        }
    }
    Ok((values, warnings))
}

/// A line the Java rules refuse (a bad `\u` escape): named by its key when it has one, as the
/// value errors are, else by its number.
fn unreadable(file: &str, text: &str, e: java_properties::PropertiesError) -> ConfigError {
    let number = e.line_number().unwrap_or(0);
    let raw = text
        .lines()
        .nth(number.saturating_sub(1))
        .unwrap_or_default()
        .trim_start();
    let split = raw.find(['=', ':', ' ', '\t']).unwrap_or(raw.len());
    let (key, value) = (&raw[..split], raw[split..].trim_start_matches(['=', ':', ' ', '\t']));
    if key.is_empty() || key.contains('\\') {
        return ConfigError::Syntax {
            file: file.to_string(),
            line: number,
            text: e.to_string(),
        };
    }
    ConfigError::Value {
        file: file.to_string(),
        key: shown(key),
        value: value.chars().map(|c| if c.is_control() { '?' } else { c }).collect(),
        expected: format!("cannot be read on line {number}: {e}"),
    }
}

/// An unknown key as the warning shows it: bounded, control characters replaced.
fn shown(key: &str) -> String {
    key.chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> HashMap<String, String> {
        parse("t.properties", text).unwrap().0
    }

    #[test]
    fn java_separators_escapes_and_continuations() {
        let v = values(
            "server.bind = 127.0.0.1:8080\n\
             datasource.odr.jndi-name: java:jboss/datasources/ODR-DS\n\
             logging.config log4rs.yaml\n\
             ! a comment\n\
             # another\n\
             digitalpost.notification.odr.template.digital.undecided=ODR/2025\\\n    0911/digital/x\n\
             digitalpost.notification.odr.template.physical.undecided=a\\u00e6b\\tc\\=d\n\
             digitalpost.notification.odr.template.digital.descided=ODR/æøå  \n",
        );
        assert_eq!(v["server.bind"], "127.0.0.1:8080");
        assert_eq!(v["datasource.odr.jndi-name"], "java:jboss/datasources/ODR-DS");
        assert_eq!(v["logging.config"], "log4rs.yaml");
        assert_eq!(
            v["digitalpost.notification.odr.template.digital.undecided"],
            "ODR/20250911/digital/x"
        );
        assert_eq!(
            v["digitalpost.notification.odr.template.physical.undecided"],
            "aæb\tc=d"
        );
        assert_eq!(v["digitalpost.notification.odr.template.digital.descided"], "ODR/æøå");
        assert_eq!(v.len(), 6);
    }

    #[test]
    fn unknown_and_repeated_keys_are_warnings_with_line_numbers() {
        let (v, warnings) = parse("t.properties", "nope=1\nserver.bind=a:1\nserver.bind=b:2\n").unwrap();
        assert_eq!(v["server.bind"], "b:2");
        assert_eq!(
            warnings,
            [
                "t.properties: unknown key nope on line 1 is ignored",
                "t.properties: key server.bind is set more than once; line 3 wins"
            ]
        );
    }

    #[test]
    fn a_bad_unicode_escape_is_one_line_naming_the_key() {
        let err = parse("t.properties", "# c\nserver.bind=\\u12\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.properties: server.bind = \"\\u12\" cannot be read on line 2: "),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}
