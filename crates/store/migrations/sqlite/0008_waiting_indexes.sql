-- Rows waiting for their person (employee_id IS NULL) are found by an
-- identity key when a link or an employee appears (attach_waiting,
-- resolve_waiting). Without these, each lookup read every waiting row;
-- partial, so rows already attached (nearly all) cost nothing here.

CREATE INDEX attendance_waiting_external_id ON attendance_records (connector, subject_external_id) WHERE employee_id IS NULL;
CREATE INDEX attendance_waiting_employee_no ON attendance_records (subject_employee_no) WHERE employee_id IS NULL;
CREATE INDEX attendance_waiting_email ON attendance_records (subject_email) WHERE employee_id IS NULL;
CREATE INDEX attendance_waiting_mobile ON attendance_records (subject_mobile) WHERE employee_id IS NULL;

CREATE INDEX ticket_activities_waiting_external_id ON ticket_activities (connector, subject_external_id) WHERE employee_id IS NULL;
CREATE INDEX ticket_activities_waiting_employee_no ON ticket_activities (subject_employee_no) WHERE employee_id IS NULL;
CREATE INDEX ticket_activities_waiting_email ON ticket_activities (subject_email) WHERE employee_id IS NULL;
CREATE INDEX ticket_activities_waiting_mobile ON ticket_activities (subject_mobile) WHERE employee_id IS NULL;

CREATE INDEX satisfaction_waiting_external_id ON satisfaction_ratings (connector, subject_external_id) WHERE employee_id IS NULL;
CREATE INDEX satisfaction_waiting_employee_no ON satisfaction_ratings (subject_employee_no) WHERE employee_id IS NULL;
CREATE INDEX satisfaction_waiting_email ON satisfaction_ratings (subject_email) WHERE employee_id IS NULL;
CREATE INDEX satisfaction_waiting_mobile ON satisfaction_ratings (subject_mobile) WHERE employee_id IS NULL;

CREATE INDEX training_waiting_external_id ON training_results (connector, subject_external_id) WHERE employee_id IS NULL;
CREATE INDEX training_waiting_employee_no ON training_results (subject_employee_no) WHERE employee_id IS NULL;
CREATE INDEX training_waiting_email ON training_results (subject_email) WHERE employee_id IS NULL;
CREATE INDEX training_waiting_mobile ON training_results (subject_mobile) WHERE employee_id IS NULL;

-- Open quarantine entries are closed by their whole key (connector, stream,
-- external_id), one index probe each; this index also serves what the old
-- (connector, stream) one did.
DROP INDEX quarantine_open;
CREATE INDEX quarantine_open ON quarantine (connector, stream, external_id) WHERE resolved_at IS NULL;
