-- Full ODR operations schema (SPEC section 4). Instants are UTC DATETIME(6).
CREATE TABLE OrganDonorRegistration (
    OrganDonorRegistrationPID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
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
    ValidFrom DATETIME(6) NOT NULL,
    ValidTo DATETIME(6) NULL,
    CreatedDateTime DATETIME(6) NOT NULL,
    ModifiedDateTime DATETIME(6) NOT NULL,
    INDEX IX_OrganDonorRegistration_Cpr (Cpr)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE NotificationDate (
    NotificationDatePID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    Status VARCHAR(16) NOT NULL,
    LatestDate DATE NOT NULL,
    CreatedDateTime DATETIME(6) NOT NULL,
    ModifiedDateTime DATETIME(6) NOT NULL,
    CONSTRAINT UQ_NotificationDate_LatestDate UNIQUE (LatestDate)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE NotificationPerson (
    NotificationPersonPID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    NotificationDatePID BIGINT NOT NULL,
    Cpr CHAR(10) NOT NULL,
    NotificationType VARCHAR(16) NOT NULL,
    Status VARCHAR(16) NOT NULL,
    MessageId CHAR(36) NOT NULL,
    TemplateDigital VARCHAR(255) NOT NULL,
    TemplatePhysical VARCHAR(255) NOT NULL,
    SentAtDateTime DATETIME(6) NULL,
    ErrorMessage VARCHAR(1000) NULL,
    CreatedDateTime DATETIME(6) NOT NULL,
    ModifiedDateTime DATETIME(6) NOT NULL,
    CONSTRAINT UQ_NotificationPerson_MessageId UNIQUE (MessageId),
    CONSTRAINT UQ_NotificationPerson_Cpr_Type UNIQUE (Cpr, NotificationType),
    INDEX IX_NotificationPerson_Status_Date (Status, NotificationDatePID),
    INDEX IX_NotificationPerson_Date_Status (NotificationDatePID, Status),
    CONSTRAINT FK_NotificationPerson_Date FOREIGN KEY (NotificationDatePID) REFERENCES NotificationDate (NotificationDatePID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE v2_person_simplified (
    Cpr CHAR(10) NOT NULL PRIMARY KEY,
    BirthDate DATE NOT NULL,
    Status CHAR(2) NOT NULL,
    StatusDate DATE NULL,
    INDEX IX_v2_person_simplified_BirthDate (BirthDate)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE JobLock (
    JobName VARCHAR(64) NOT NULL PRIMARY KEY,
    Owner VARCHAR(255) NULL,
    Token BIGINT NOT NULL DEFAULT 0,
    LockedUntil DATETIME(6) NULL,
    HeartbeatAt DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE JobState (
    JobName VARCHAR(64) NOT NULL PRIMARY KEY,
    ResumeCursor VARCHAR(255) NULL,
    PassStartedAt DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE JobRun (
    JobRunPID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    JobName VARCHAR(64) NOT NULL,
    Node VARCHAR(255) NOT NULL,
    StartedAt DATETIME(6) NOT NULL,
    EndedAt DATETIME(6) NOT NULL,
    Outcome VARCHAR(16) NOT NULL,
    Processed BIGINT NOT NULL DEFAULT 0,
    ErrorMessage VARCHAR(2000) NULL,
    INDEX IX_JobRun_JobName (JobName, JobRunPID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE ErrorEvent (
    ErrorEventPID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    Service VARCHAR(32) NOT NULL,
    OccurredAt DATETIME(6) NOT NULL,
    Message VARCHAR(2000) NOT NULL,
    INDEX IX_ErrorEvent_Service_OccurredAt (Service, OccurredAt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO JobLock (JobName, Token) VALUES
    ('OrganDonorDeceasedCleanup', 0), ('OrganDonorEmigratedCleanup', 0), ('OrganDonorNotification', 0);
INSERT INTO JobState (JobName) VALUES
    ('OrganDonorDeceasedCleanup'), ('OrganDonorEmigratedCleanup'), ('OrganDonorNotification');
