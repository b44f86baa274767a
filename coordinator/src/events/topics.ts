/**
 * Builds the topics one event stream watches, with marker and snapshot reads
 * shared by every stream of this coordinator (see shared-reads.ts).
 */
import type { EventTopic } from '@tabgrid/shared';
import type { Db } from '../db/client.js';
import type { Storage } from '../storage/storage.js';
import { jobMarker, jobSnapshot, jobsMarker, jobsSnapshot } from '../views/job-views.js';
import { SharedReads } from './shared-reads.js';
import type { Topic } from './watch.js';
import { statusSnapshot, workersMarker, workersSnapshot } from '../views/worker-views.js';

/**
 * Below the gap between rounds, so a round sees a marker read during it or
 * just before; a round woken by a notification only takes one read after
 * the notification (SharedReads' freshAfter).
 */
const MARKER_MAX_AGE_MS = 250;
/** Snapshots are keyed by their marker, so sharing them longer is safe; it only needs to span streams' unaligned rounds. */
const SNAPSHOT_MAX_AGE_MS = 5000;

export interface TopicSelection {
  readonly topics: readonly EventTopic[];
  /** Adds the `job` topic for this job. */
  readonly jobId?: string | undefined;
}

export type TopicFactory = (selection: TopicSelection) => Topic[];

export function createTopicFactory(deps: { db: Db; storage: Storage }): TopicFactory {
  const markers = new SharedReads(MARKER_MAX_AGE_MS);
  const snapshots = new SharedReads(SNAPSHOT_MAX_AGE_MS);

  const topic = (event: string, key: string, marker: () => Promise<string>, snapshot: () => Promise<unknown>): Topic => {
    let lastMarker = '';
    return {
      event,
      marker: async (freshAfter) => {
        lastMarker = await markers.read(key, marker, freshAfter);
        return lastMarker;
      },
      snapshot: () => snapshots.read(`${key}@${lastMarker}`, snapshot),
    };
  };

  const builders: Record<EventTopic, () => Topic> = {
    jobs: () =>
      topic(
        'jobs',
        'jobs',
        () => jobsMarker(deps.db),
        () => jobsSnapshot(deps.db, deps.storage),
      ),
    workers: () =>
      topic(
        'workers',
        'workers',
        () => workersMarker(deps.db),
        () => workersSnapshot(deps.db),
      ),
    // The status query is as cheap as any marker, so it is its own marker.
    status: () => {
      let last: unknown;
      return {
        event: 'status',
        marker: async (freshAfter) => {
          last = await markers.read('status', () => statusSnapshot(deps.db), freshAfter);
          return JSON.stringify(last);
        },
        snapshot: async () => last,
      };
    },
  };

  return ({ topics, jobId }) => {
    const list = [...new Set(topics)].map((t) => builders[t]());
    if (jobId !== undefined) {
      list.push(
        topic(
          'job',
          `job:${jobId}`,
          () => jobMarker(deps.db, jobId),
          () => jobSnapshot(deps.db, deps.storage, jobId),
        ),
      );
    }
    return list;
  };
}
