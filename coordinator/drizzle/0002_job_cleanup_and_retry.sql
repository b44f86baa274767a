ALTER TABLE "jobs" ADD COLUMN "needs_cleanup" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "retry_base" integer DEFAULT 0 NOT NULL;