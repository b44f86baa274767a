CREATE TABLE "task_results" (
	"task_id" text NOT NULL,
	"attempt" integer NOT NULL,
	"worker_id" text NOT NULL,
	"address" text,
	"encoder_config" text,
	"segment_key" text NOT NULL,
	"segment_size" integer NOT NULL,
	"segment_sha256" text NOT NULL,
	"frames_sha256" text,
	"frame_hashes" jsonb,
	"min_ssim" real,
	"min_psnr" real,
	"min_tile_psnr" real,
	"verdict" text DEFAULT 'pending' NOT NULL,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"decided_at" timestamp with time zone,
	CONSTRAINT "task_results_task_id_attempt_pk" PRIMARY KEY("task_id","attempt"),
	CONSTRAINT "task_results_verdict_check" CHECK ("task_results"."verdict" IN ('refused', 'pending', 'accepted', 'confirmed', 'outvoted', 'withdrawn', 'unused'))
);
--> statement-breakpoint
ALTER TABLE "task_attempts" DROP CONSTRAINT "task_attempts_outcome_check";--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "replica_config" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "replica_deadline" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "confirmed_results" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "caught_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "caught_reason" text;--> statement-breakpoint
ALTER TABLE "task_results" ADD CONSTRAINT "task_results_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "task_results_worker_idx" ON "task_results" USING btree ("worker_id","verdict");--> statement-breakpoint
ALTER TABLE "task_attempts" ADD CONSTRAINT "task_attempts_outcome_check" CHECK ("task_attempts"."outcome" IS NULL OR "task_attempts"."outcome" IN ('done', 'submitted', 'expired', 'failed', 'rejected', 'disconnected', 'canceled'));--> statement-breakpoint
-- Hand-written below (drizzle-kit does not track functions): the state machines gain the edges of
-- replication and re-checks (coordinator/src/tasks/task-states.ts, coordinator/src/jobs/job-states.ts):
--   tasks queued -> done       a result waiting for a replica is settled on the content check alone
--   tasks done -> queued       an accepted result is withdrawn (its worker was caught, its stored copy changed)
--   jobs merging -> transcoding  the merge found a withdrawn or changed segment: that chunk is done again
CREATE OR REPLACE FUNCTION "jobs_state_transition_check"() RETURNS trigger LANGUAGE plpgsql AS $$
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
      ('merging', 'transcoding'),
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
CREATE OR REPLACE FUNCTION "tasks_state_transition_check"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (OLD.state, NEW.state) NOT IN (
      ('queued', 'leased'),
      ('queued', 'done'),
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
      ('done', 'queued'),
      ('dead', 'queued'),
      ('canceled', 'queued')) THEN
    RAISE EXCEPTION 'tasks: illegal state transition % -> % (id %)', OLD.state, NEW.state, OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
