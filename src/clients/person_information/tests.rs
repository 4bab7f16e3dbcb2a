//! The PersonInformation client's own reading of the wire: status codes, the URL, the answer
//! parser. The client against the fake service is tested in `tests/api/clients/`.

use super::*;

const ALICE: &str = "0101001234";
const BOB: &str = "0202025678";

fn cpr(s: &str) -> Cpr {
    Cpr::parse(s).unwrap()
}

#[test]
fn status_codes_round_trip() {
    for s in CprStatus::ALL {
        assert_eq!(CprStatus::parse(s.code()), Some(s));
    }
    let active: Vec<&str> = CprStatus::ALL
        .into_iter()
        .filter(|s| s.is_active())
        .map(|s| s.code())
        .collect();
    assert_eq!(active, ["01", "03", "05", "07"]);
    for bad in ["", "1", "02", "90 ", "99", "x"] {
        assert_eq!(CprStatus::parse(bad), None);
    }
}

#[test]
fn status_url_tolerates_trailing_slash() {
    assert_eq!(
        status_url("http://h:1/a/b/").unwrap().as_str(),
        "http://h:1/a/b/persons/status"
    );
    assert_eq!(
        status_url("http://h:1/a/b").unwrap().as_str(),
        "http://h:1/a/b/persons/status"
    );
    assert!(status_url("not a url").is_err());
}

#[test]
fn answer_with_absent_or_null_status_date_parses() {
    let (a, b) = (cpr(ALICE), cpr(BOB));
    let body = format!(
        r#"{{"persons":[{{"cpr":"{ALICE}","status":"80"}},{{"cpr":"{BOB}","status":"01","statusDate":null,"extra":1}}]}}"#
    );
    let got = parse_answer(body.as_bytes(), &[&a, &b]).unwrap();
    assert_eq!(
        got[0],
        PersonStatus {
            cpr: a.clone(),
            status: CprStatus::Emigrated80,
            status_date: None
        }
    );
    assert_eq!(
        got[1],
        PersonStatus {
            cpr: b.clone(),
            status: CprStatus::Active01,
            status_date: None
        }
    );
}

#[test]
fn answer_naming_an_invalid_cpr_a_cpr_not_asked_or_a_bad_date_is_bad_body() {
    let a = cpr(ALICE);
    let bodies = [
        r#"{"persons":[{"cpr":"01010012","status":"90"}]}"#.to_string(),
        format!(r#"{{"persons":[{{"cpr":"{BOB}","status":"90"}}]}}"#),
        format!(r#"{{"persons":[{{"cpr":"{ALICE}","status":"90"}},{{"cpr":"{ALICE}","status":"90"}}]}}"#),
        format!(r#"{{"persons":[{{"cpr":"{ALICE}","status":"90","statusDate":"{ALICE}"}}]}}"#),
        format!(r#"{{"persons":[{{"cpr":"{ALICE}","status":90}}]}}"#),
        format!(r#"{{"people":[{{"cpr":"{ALICE}","status":"90"}}]}}"#),
        format!(r#"{{"persons":[{{"cpr":"{ALICE}","status":"{BOB}"}}]}}"#),
        format!(r#"{{"persons":[{{"cpr":{ALICE},"status":"90"}}]}}"#),
    ];
    for body in bodies {
        let err = parse_answer(body.as_bytes(), &[&a]).unwrap_err();
        assert!(matches!(err, PersonInfoError::BadBody(_)), "{body}: {err:?}");
        // Not even the cause (which goes to the log) may name a CPR number.
        let debug = format!("{err:?}");
        assert!(!debug.contains(ALICE) && !debug.contains(BOB), "{debug}");
        // The Display text is the one fixed sentence (tests/api/clients checks it names no CPR).
        assert_eq!(
            err.to_string(),
            "Data for CPR-nummeret kunne ikke findes, fordi svaret fra PersonInformation-servicen ikke kunne læses"
        );
    }
}
