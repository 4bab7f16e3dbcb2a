//! Diesel table definitions with the exact SQL names of SPEC §4 (operators' SQL depends on them).

diesel::table! {
    #[sql_name = "OrganDonorRegistration"]
    organ_donor_registration (id) {
        #[sql_name = "OrganDonorRegistrationPID"]
        id -> BigInt,
        #[sql_name = "Cpr"]
        cpr -> Text,
        #[sql_name = "PermissionType"]
        permission_type -> Text,
        #[sql_name = "Heart"]
        heart -> Bool,
        #[sql_name = "Lungs"]
        lungs -> Bool,
        #[sql_name = "Liver"]
        liver -> Bool,
        #[sql_name = "Pancreas"]
        pancreas -> Bool,
        #[sql_name = "Kidneys"]
        kidneys -> Bool,
        #[sql_name = "Cornea"]
        cornea -> Bool,
        #[sql_name = "SmallIntestine"]
        small_intestine -> Bool,
        #[sql_name = "Skin"]
        skin -> Bool,
        #[sql_name = "RequiresRelativeAcceptance"]
        requires_relative_acceptance -> Bool,
        #[sql_name = "ValidFrom"]
        valid_from -> Timestamp,
        #[sql_name = "ValidTo"]
        valid_to -> Nullable<Timestamp>,
        #[sql_name = "CreatedDateTime"]
        created -> Timestamp,
        #[sql_name = "ModifiedDateTime"]
        modified -> Timestamp,
    }
}

diesel::table! {
    #[sql_name = "NotificationDate"]
    notification_date (id) {
        #[sql_name = "NotificationDatePID"]
        id -> BigInt,
        #[sql_name = "Status"]
        status -> Text,
        #[sql_name = "LatestDate"]
        latest_date -> Date,
        #[sql_name = "CreatedDateTime"]
        created -> Timestamp,
        #[sql_name = "ModifiedDateTime"]
        modified -> Timestamp,
    }
}

diesel::table! {
    #[sql_name = "NotificationPerson"]
    notification_person (id) {
        #[sql_name = "NotificationPersonPID"]
        id -> BigInt,
        #[sql_name = "NotificationDatePID"]
        notification_date_id -> BigInt,
        #[sql_name = "Cpr"]
        cpr -> Text,
        #[sql_name = "NotificationType"]
        notification_type -> Text,
        #[sql_name = "Status"]
        status -> Text,
        #[sql_name = "MessageId"]
        message_id -> Text,
        #[sql_name = "TemplateDigital"]
        template_digital -> Text,
        #[sql_name = "TemplatePhysical"]
        template_physical -> Text,
        #[sql_name = "SentAtDateTime"]
        sent_at -> Nullable<Timestamp>,
        #[sql_name = "ErrorMessage"]
        error_message -> Nullable<Text>,
        #[sql_name = "CreatedDateTime"]
        created -> Timestamp,
        #[sql_name = "ModifiedDateTime"]
        modified -> Timestamp,
    }
}

diesel::table! {
    #[sql_name = "v2_person_simplified"]
    person_simplified (cpr) {
        #[sql_name = "Cpr"]
        cpr -> Text,
        #[sql_name = "BirthDate"]
        birth_date -> Date,
        #[sql_name = "Status"]
        status -> Text,
        #[sql_name = "StatusDate"]
        status_date -> Nullable<Date>,
    }
}

diesel::table! {
    #[sql_name = "JobLock"]
    job_lock (job_name) {
        #[sql_name = "JobName"]
        job_name -> Text,
        #[sql_name = "Owner"]
        owner -> Nullable<Text>,
        #[sql_name = "Token"]
        token -> BigInt,
        #[sql_name = "LockedUntil"]
        locked_until -> Nullable<Timestamp>,
        #[sql_name = "HeartbeatAt"]
        heartbeat_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    #[sql_name = "JobState"]
    job_state (job_name) {
        #[sql_name = "JobName"]
        job_name -> Text,
        #[sql_name = "ResumeCursor"]
        resume_cursor -> Nullable<Text>,
        #[sql_name = "PassStartedAt"]
        pass_started_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    #[sql_name = "JobRun"]
    job_run (id) {
        #[sql_name = "JobRunPID"]
        id -> BigInt,
        #[sql_name = "JobName"]
        job_name -> Text,
        #[sql_name = "Node"]
        node -> Text,
        #[sql_name = "StartedAt"]
        started_at -> Timestamp,
        #[sql_name = "EndedAt"]
        ended_at -> Timestamp,
        #[sql_name = "Outcome"]
        outcome -> Text,
        #[sql_name = "Processed"]
        processed -> BigInt,
        #[sql_name = "ErrorMessage"]
        error_message -> Nullable<Text>,
        #[sql_name = "Figures"]
        figures -> Nullable<Text>,
    }
}

diesel::table! {
    #[sql_name = "ErrorEvent"]
    error_event (id) {
        #[sql_name = "ErrorEventPID"]
        id -> BigInt,
        #[sql_name = "Service"]
        service -> Text,
        #[sql_name = "OccurredAt"]
        occurred_at -> Timestamp,
        #[sql_name = "Message"]
        message -> Text,
    }
}

diesel::joinable!(notification_person -> notification_date (notification_date_id));

diesel::allow_tables_to_appear_in_same_query!(
    organ_donor_registration,
    notification_date,
    notification_person,
    person_simplified,
    job_lock,
    job_state,
    job_run,
    error_event,
);
