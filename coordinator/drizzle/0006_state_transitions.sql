-- The job and task state machines (coordinator/src/jobs/job-states.ts, coordinator/src/tasks/task-states.ts),
-- enforced by the database: an UPDATE that moves a row along any other edge fails with check_violation.
-- Only fires when the state changes, so heartbeats and lease renewals pay nothing.
CREATE FUNCTION "jobs_state_transition_check"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (OLD.state, NEW.state) NOT IN (
      ('queued', 'probing'),
      ('queued', 'failed'),
      ('queued', 'canceled'),
      ('probing', 'splitting'),
      ('probing', 'failed'),
      ('probing', 'canceled'),
      ('splitting', 'transcoding'),
      ('splitting', 'failed'),
      ('splitting', 'canceled'),
      ('transcoding', 'merging'),
      ('transcoding', 'failed'),
      ('transcoding', 'canceled'),
      ('merging', 'done'),
      ('merging', 'failed'),
      ('merging', 'canceled'),
      ('failed', 'queued'),
      ('failed', 'splitting'),
      ('canceled', 'queued'),
      ('canceled', 'splitting')) THEN
    RAISE EXCEPTION 'jobs: illegal state transition % -> % (id %)', OLD.state, NEW.state, OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "jobs_state_transition" BEFORE UPDATE OF state ON "jobs"
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION "jobs_state_transition_check"();--> statement-breakpoint
CREATE FUNCTION "tasks_state_transition_check"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (OLD.state, NEW.state) NOT IN (
      ('queued', 'leased'),
      ('queued', 'canceled'),
      ('leased', 'verifying'),
      ('leased', 'queued'),
      ('leased', 'dead'),
      ('leased', 'canceled'),
      ('verifying', 'leased'),
      ('verifying', 'done'),
      ('verifying', 'queued'),
      ('verifying', 'dead'),
      ('verifying', 'canceled'),
      ('dead', 'queued'),
      ('canceled', 'queued')) THEN
    RAISE EXCEPTION 'tasks: illegal state transition % -> % (id %)', OLD.state, NEW.state, OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "tasks_state_transition" BEFORE UPDATE OF state ON "tasks"
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION "tasks_state_transition_check"();
