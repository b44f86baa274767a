ALTER TABLE "jobs" ADD COLUMN "encoder" text DEFAULT 'x264' NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "encoder" text DEFAULT 'x264' NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_encoder_check" CHECK ("jobs"."encoder" IN ('x264', 'webcodecs', 'auto'));--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_encoder_check" CHECK ("tasks"."encoder" IN ('x264', 'webcodecs'));