-- Full ODR operations schema (SPEC section 4). Instants are UTC TEXT 'YYYY-MM-DD HH:MM:SS.ffffff'.
CREATE TABLE OrganDonorRegistration (
    OrganDonorRegistrationPID INTEGER PRIMARY KEY AUTOINCREMENT,
    Cpr CHAR(10) NOT NULL,
    PermissionType VARCHAR(32) NOT NULL,
    Heart BOOLEAN NOT NULL DEFAULT 0,
    Lungs BOOLEAN NOT NULL DEFAULT 0,
    Liver BOOLEAN NOT NULL DEFAULT 0,
    Pancreas BOOLEAN NOT NULL DEFAULT 0,
    Kidneys BOOLEAN NOT NULL DEFAULT 0,
    Cornea BOOLEAN NOT NULL DEFAULT 0,
    SmallIntestine BOOLEAN NOT NULL DEFAULT 0,
    Skin BOOLEAN NOT NULL DEFAULT 0,
    RequiresRelativeAcceptance BOOLEAN NOT NULL DEFAULT 0,
    ValidFrom TEXT NOT NULL,
    ValidTo TEXT NULL,
    CreatedDateTime TEXT NOT NULL,
    ModifiedDateTime TEXT NOT NULL
);
CREATE INDEX IX_OrganDonorRegistration_Cpr ON OrganDonorRegistration (Cpr);

CREATE TABLE NotificationDate (
    NotificationDatePID INTEGER PRIMARY KEY AUTOINCREMENT,
    Status VARCHAR(16) NOT NULL,
    LatestDate DATE NOT NULL,
    CreatedDateTime TEXT NOT NULL,
    ModifiedDateTime TEXT NOT NULL,
    CONSTRAINT UQ_NotificationDate_LatestDate UNIQUE (LatestDate)
);

CREATE TABLE NotificationPerson (
    NotificationPersonPID INTEGER PRIMARY KEY AUTOINCREMENT,
    NotificationDatePID INTEGER NOT NULL REFERENCES NotificationDate (NotificationDatePID),
    Cpr CHAR(10) NOT NULL,
    NotificationType VARCHAR(16) NOT NULL,
    Status VARCHAR(16) NOT NULL,
    MessageId CHAR(36) NOT NULL,
    TemplateDigital VARCHAR(255) NOT NULL,
    TemplatePhysical VARCHAR(255) NOT NULL,
    SentAtDateTime TEXT NULL,
    ErrorMessage VARCHAR(1000) NULL,
    CreatedDateTime TEXT NOT NULL,
    ModifiedDateTime TEXT NOT NULL,
    CONSTRAINT UQ_NotificationPerson_MessageId UNIQUE (MessageId),
    CONSTRAINT UQ_NotificationPerson_Cpr_Type UNIQUE (Cpr, NotificationType)
);
CREATE INDEX IX_NotificationPerson_Status_Date ON NotificationPerson (Status, NotificationDatePID);
CREATE INDEX IX_NotificationPerson_Date_Status ON NotificationPerson (NotificationDatePID, Status);

CREATE TABLE v2_person_simplified (
    Cpr CHAR(10) NOT NULL PRIMARY KEY,
    BirthDate DATE NOT NULL,
    Status CHAR(2) NOT NULL,
    StatusDate DATE NULL
);
CREATE INDEX IX_v2_person_simplified_BirthDate ON v2_person_simplified (BirthDate);

CREATE TABLE JobLock (
    JobName VARCHAR(64) NOT NULL PRIMARY KEY,
    Owner VARCHAR(255) NULL,
    Token BIGINT NOT NULL DEFAULT 0,
    LockedUntil TEXT NULL,
    HeartbeatAt TEXT NULL
);

CREATE TABLE JobState (
    JobName VARCHAR(64) NOT NULL PRIMARY KEY,
    ResumeCursor VARCHAR(255) NULL,
    PassStartedAt TEXT NULL
);

CREATE TABLE JobRun (
    JobRunPID INTEGER PRIMARY KEY AUTOINCREMENT,
    JobName VARCHAR(64) NOT NULL,
    Node VARCHAR(255) NOT NULL,
    StartedAt TEXT NOT NULL,
    EndedAt TEXT NOT NULL,
    Outcome VARCHAR(16) NOT NULL,
    Processed BIGINT NOT NULL DEFAULT 0,
    ErrorMessage VARCHAR(2000) NULL
);
CREATE INDEX IX_JobRun_JobName ON JobRun (JobName, JobRunPID);

CREATE TABLE ErrorEvent (
    ErrorEventPID INTEGER PRIMARY KEY AUTOINCREMENT,
    Service VARCHAR(32) NOT NULL,
    OccurredAt TEXT NOT NULL,
    Message VARCHAR(2000) NOT NULL
);
CREATE INDEX IX_ErrorEvent_Service_OccurredAt ON ErrorEvent (Service, OccurredAt);

INSERT INTO JobLock (JobName, Token) VALUES
    ('OrganDonorDeceasedCleanup', 0), ('OrganDonorEmigratedCleanup', 0), ('OrganDonorNotification', 0);
INSERT INTO JobState (JobName) VALUES
    ('OrganDonorDeceasedCleanup'), ('OrganDonorEmigratedCleanup'), ('OrganDonorNotification');
