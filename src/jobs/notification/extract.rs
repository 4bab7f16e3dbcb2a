//! Extraction of a notification date: the date row and one Pending letter per recipient.

use chrono::NaiveDate;

use super::dates::birth_dates_for;
use super::{NotificationJob, NOTIFICATION};
use crate::cpr::Cpr;
use crate::db::models::notification::{self, NewLetter, TYPE_18AAR};
use crate::db::models::{person, stored, DateStatus, LetterStatus};
use crate::engine::{CursorChange, JobError, Slice};

/// Letters built and inserted at a time during an extraction.
const LETTER_CHUNK: usize = 1000;

impl NotificationJob {
    /// Extracts date `date`: the date row, one Pending letter per recipient who has never had
    /// one, then the date InProgress, in one transaction. Also completes an extraction an
    /// operator restarted by setting the date back to Pending.
    pub(super) async fn extract(&mut self, slice: &mut Slice, date: NaiveDate) -> Result<(), JobError> {
        let (years, offset) = (self.settings.legal_age_years, self.settings.offset_days);
        let births = birth_dates_for(date, years, offset);
        // Read from the stamdata datasource (it may be another database): outside the commit.
        let found = self
            .stamdata
            .run(move |conn| Ok::<_, JobError>(person::active_born_on(conn, &births)?))
            .await?;
        let total = found.len();
        let cprs: Vec<String> = found
            .into_iter()
            .map(|c| c.trim().to_string())
            .filter(|c| Cpr::parse(c).is_ok())
            .collect();
        if cprs.len() < total {
            log::warn!(
                "{NOTIFICATION}: {} rows of v2_person_simplified born for {date} have a CPR that is not 10 digits and were skipped",
                total - cprs.len()
            );
        }
        let templates = self.settings.templates.clone();
        let now = stored(slice.clock().now());
        let (inserted, already) = slice
            .commit(CursorChange::Keep, move |conn| {
                let row = notification::date_row_or_insert(conn, date, now)?;
                let had = notification::cprs_with_letter(conn, &cprs, TYPE_18AAR)?;
                let todo: Vec<String> = cprs.into_iter().filter(|c| !had.contains(c)).collect();
                // Built and inserted a chunk at a time: a date of any size costs one chunk of
                // letters in memory, not all of them (still one transaction).
                let mut inserted = 0;
                for chunk in todo.chunks(LETTER_CHUNK) {
                    let decided = notification::cprs_with_active_registration(conn, chunk, now)?;
                    let letters: Vec<NewLetter> = chunk
                        .iter()
                        .map(|cpr| {
                            let (digital, physical) = if decided.contains(cpr) {
                                (&templates.digital_decided, &templates.physical_decided)
                            } else {
                                (&templates.digital_undecided, &templates.physical_undecided)
                            };
                            NewLetter {
                                notification_date_id: row.id,
                                cpr: cpr.clone(),
                                notification_type: TYPE_18AAR.to_string(),
                                status: LetterStatus::Pending.as_str().to_string(),
                                message_id: uuid::Uuid::new_v4().to_string(),
                                template_digital: digital.clone(),
                                template_physical: physical.clone(),
                                created: now,
                                modified: now,
                            }
                        })
                        .collect();
                    inserted += notification::insert_letters(conn, &letters)?;
                }
                notification::set_date_status(conn, row.id, DateStatus::InProgress, now)?;
                Ok((inserted, had.len()))
            })
            .await?;
        log::info!(
            "{NOTIFICATION}: date {date} extracted: {inserted} letters to send, {already} recipients already had their letter"
        );
        Ok(())
    }
}
