DROP TABLE ErrorEvent;
DROP TABLE JobRun;
DROP TABLE JobState;
DROP TABLE JobLock;
DROP TABLE v2_person_simplified;
DROP TABLE NotificationPerson;
DROP TABLE NotificationDate;
DROP TABLE OrganDonorRegistration;
