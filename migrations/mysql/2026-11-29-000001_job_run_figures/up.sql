-- Each slice's figures as JSON (checked, removed, dead without a status date, ...) for ?detailed and the dashboard.
ALTER TABLE JobRun ADD COLUMN Figures VARCHAR(2000) NULL;
