-- Each slice's figures as JSON (checked, removed, dead without a status date, ...) for ?detailed and the dashboard.
ALTER TABLE JobRun ADD COLUMN Figures TEXT NULL;
