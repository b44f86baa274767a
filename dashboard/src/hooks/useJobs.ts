/**
 * Live views of jobs. Today they poll (see usePolled); when the coordinator
 * pushes updates, only this file and usePolled need to change.
 */
import { TERMINAL_JOB_STATES, type JobView, type TaskView } from '@tabgrid/shared';
import { getJob, listJobs, listTasks } from '../api';
import { usePolled, type Polled } from './usePolled';

/** All jobs, newest first. */
export function useJobs(): Polled<JobView[]> {
  return usePolled('jobs', listJobs);
}

export interface JobDetail {
  readonly job: JobView;
  readonly tasks: TaskView[];
}

const isTerminal = (d: JobDetail): boolean => TERMINAL_JOB_STATES.includes(d.job.state);

/**
 * One job and its tasks, or nothing when `id` is null. Polling stops once
 * the job is done, failed or canceled: nothing changes after that, and the
 * output URLs (presigned, different on every response) must stay put or the
 * <video> elements would reload every tick.
 */
export function useJob(id: string | null): Polled<JobDetail> {
  return usePolled(
    id,
    async (signal) => {
      const [job, tasks] = await Promise.all([getJob(id!, signal), listTasks(id!, signal)]);
      return { job, tasks };
    },
    { stopWhen: isTerminal },
  );
}
