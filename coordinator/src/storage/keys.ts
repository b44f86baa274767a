/**
 * The one storage layout. Every object the grid writes has its key built
 * here; README.md ("Storage layout") documents the same table.
 *
 *   videos/{jobId}/source/source.{ext}                       the upload, as received
 *   videos/{jobId}/manifests/source.json                     the split's chunk manifest
 *   videos/{jobId}/chunks/source/chunk_{NNNN}.mkv            GOP-aligned video-only chunks
 *   videos/{jobId}/segments/{rendition}/chunk_{NNNN}.a{attempt}.mp4
 *                                                            a tab's transcoded segment, one key per
 *                                                            attempt so a late or replayed upload can
 *                                                            never overwrite the accepted one
 *   videos/{jobId}/segments/verified/{rendition}/chunk_{NNNN}.a{attempt}.mp4
 *                                                            the bytes the coordinator checked, copied
 *                                                            from its own scratch file: no presigned URL
 *                                                            is ever made for it, so no tab can change
 *                                                            what the merge reads ('verified' is no
 *                                                            rendition name, and the cleanup of segments/
 *                                                            covers it)
 *   videos/{jobId}/audio/audio.m4a                           the source audio, encoded once (AAC)
 *   encoded/{jobId}_{rendition}.mp4                          the merged rendition (faststart)
 *   encoded/{jobId}/hls/master.m3u8                          HLS master playlist (relative URIs)
 *   encoded/{jobId}/hls/{rendition|audio}/index.m3u8         media playlist, init.mp4, seg_NNNN.m4s (fMP4)
 *   encoded/{jobId}/poster.jpg                               poster frame
 *   encoded/{jobId}/thumbnails.jpg                           thumbnail sprite (grid in the job row)
 */
const pad = (n: number): string => String(n).padStart(4, '0');

export const storageKeys = {
  jobPrefix: (jobId: string) => `videos/${jobId}/`,
  source: (jobId: string, ext: string) => `videos/${jobId}/source/source.${ext}`,
  manifest: (jobId: string) => `videos/${jobId}/manifests/source.json`,
  chunksPrefix: (jobId: string) => `videos/${jobId}/chunks/source/`,
  chunk: (jobId: string, index: number, ext = 'mkv') => `videos/${jobId}/chunks/source/chunk_${pad(index)}.${ext}`,
  segmentsPrefix: (jobId: string) => `videos/${jobId}/segments/`,
  segment: (jobId: string, rendition: string, index: number, attempt: number) =>
    `videos/${jobId}/segments/${rendition}/chunk_${pad(index)}.a${attempt}.mp4`,
  /** The protected copy of a checked segment: written only by the coordinator, never presigned. */
  verifiedSegment: (jobId: string, rendition: string, index: number, attempt: number) =>
    `videos/${jobId}/segments/verified/${rendition}/chunk_${pad(index)}.a${attempt}.mp4`,
  /** Where the tabs' own uploads of one rendition live (not the verified copies). */
  renditionUploadsPrefix: (jobId: string, rendition: string) => `videos/${jobId}/segments/${rendition}/`,
  audioPrefix: (jobId: string) => `videos/${jobId}/audio/`,
  audio: (jobId: string) => `videos/${jobId}/audio/audio.m4a`,
  output: (jobId: string, rendition: string) => `encoded/${jobId}_${rendition}.mp4`,
  /** Everything under encoded/{jobId}/: HLS, poster, thumbnails. */
  deliverablesPrefix: (jobId: string) => `encoded/${jobId}/`,
  hlsMaster: (jobId: string) => `encoded/${jobId}/hls/master.m3u8`,
  /** `name` is a rendition or `audio`; `file` is index.m3u8, init.mp4 or seg_NNNN.m4s. */
  hlsFile: (jobId: string, name: string, file: string) => `encoded/${jobId}/hls/${name}/${file}`,
  poster: (jobId: string) => `encoded/${jobId}/poster.jpg`,
  thumbnails: (jobId: string) => `encoded/${jobId}/thumbnails.jpg`,
} as const;
