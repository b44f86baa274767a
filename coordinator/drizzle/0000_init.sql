CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"state" text DEFAULT 'queued' NOT NULL,
	"error" text,
	"requested_renditions" jsonb NOT NULL,
	"ladder" jsonb,
	"source_key" text NOT NULL,
	"source_size" bigint NOT NULL,
	"source" jsonb,
	"total_chunks" integer,
	"outputs" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"runner_id" text,
	"runner_expires_at" timestamp with time zone,
	"step_attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_attempts" (
	"task_id" text NOT NULL,
	"attempt" integer NOT NULL,
	"worker_id" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	"outcome" text,
	"reason" text,
	CONSTRAINT "task_attempts_task_id_attempt_pk" PRIMARY KEY("task_id","attempt")
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"job_id" text NOT NULL,
	"chunk_index" integer NOT NULL,
	"rendition" text NOT NULL,
	"state" text DEFAULT 'queued' NOT NULL,
	"params" jsonb NOT NULL,
	"chunk_key" text NOT NULL,
	"chunk_size" integer NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"lease_token" text,
	"lease_owner" text,
	"lease_expires_at" timestamp with time zone,
	"available_at" timestamp with time zone DEFAULT now() NOT NULL,
	"progress" real DEFAULT 0 NOT NULL,
	"segment_key" text,
	"segment_size" integer,
	"segment_sha256" text,
	"last_error" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workers" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text,
	"capabilities" jsonb NOT NULL,
	"coordinator_id" text,
	"connected_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"disconnected_at" timestamp with time zone,
	"tasks_done" integer DEFAULT 0 NOT NULL,
	"tasks_failed" integer DEFAULT 0 NOT NULL,
	"quarantined_until" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "task_attempts" ADD CONSTRAINT "task_attempts_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "jobs_state_idx" ON "jobs" USING btree ("state");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_job_chunk_rendition_uq" ON "tasks" USING btree ("job_id","chunk_index","rendition");--> statement-breakpoint
CREATE INDEX "tasks_claimable_idx" ON "tasks" USING btree ("state","available_at");--> statement-breakpoint
CREATE INDEX "tasks_lease_owner_idx" ON "tasks" USING btree ("lease_owner");