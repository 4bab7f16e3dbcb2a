//! Row structs and their queries, one file per table; statuses as enums with the exact DB strings.

pub mod error_event;
pub mod install;
pub mod job_lock;
pub mod job_run;
pub mod job_state;
pub mod notification;
pub mod person;
pub mod registration;

/// Declares a status enum whose variants map one-to-one onto fixed DB strings.
macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact string stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses a stored string; `None` for a value an operator invented.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

db_enum! {
    /// `NotificationPerson.Status`.
    LetterStatus {
        /// Waiting to be sent.
        Pending => "Pending",
        /// Taken by a slice; being sent.
        InProgress => "InProgress",
        /// Accepted by the adapter.
        Sent => "Sent",
        /// Its date is complete.
        Completed => "Completed",
        /// Rejected by the adapter; waits for an operator.
        Error => "Error",
    }
}

db_enum! {
    /// `NotificationDate.Status`.
    DateStatus {
        /// Created, recipients being extracted.
        Pending => "Pending",
        /// Letters being sent.
        InProgress => "InProgress",
        /// Every letter sent.
        Completed => "Completed",
    }
}

db_enum! {
    /// `JobRun.Outcome`.
    Outcome {
        /// The job reached its end (pass complete / all dates up to today Completed).
        Finished => "Finished",
        /// The time budget stopped the slice; the next call resumes.
        Paused => "Paused",
        /// An error stopped the slice.
        Failed => "Failed",
        /// Another node held the lease; nothing ran.
        Skipped => "Skipped",
        /// A preview walked the job's data and wrote nothing (it held the lease meanwhile).
        Preview => "Preview",
    }
}

db_enum! {
    /// `ErrorEvent.Service`.
    Service {
        /// stamdata PersonInformation.
        PersonInformation => "PersonInformation",
        /// Digital Post Adapter.
        DigitalPost => "DigitalPost",
    }
}

/// A UTC instant as stored (DATETIME(6) / TEXT with microseconds).
pub fn stored(t: chrono::DateTime<chrono::Utc>) -> crate::db::StoredInstant {
    crate::db::StoredInstant::from_utc(t)
}
