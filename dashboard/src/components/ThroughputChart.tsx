import type { Throughput } from '@tabgrid/shared';
import { useEffect, useRef, useState } from 'react';
import { formatTime } from '../format';

const H = 180;
const PAD = { left: 34, right: 8, top: 10, bottom: 24 };

/** 0 → 4, 7 → 8, 23 → 25: a round top for the axis, never below 4 so a quiet hour does not look busy. */
function niceMax(n: number): number {
  if (n <= 4) return 4;
  const step = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= n) return m * step;
  return 10 * step;
}

/**
 * Accepted segments per minute over the last hour, as plain SVG bars. The
 * same numbers go to assistive technology as one sentence (role="img"),
 * which says more than sixty bars read one by one.
 */
export function ThroughputChart({ throughput }: { throughput: Throughput }) {
  // Drawn at the width it is shown at, so axis text keeps its size from phone to desktop.
  const box = useRef<HTMLElement>(null);
  const [W, setW] = useState(640);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => entry && setW(Math.max(200, Math.round(entry.contentRect.width))));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const counts = throughput.perMinute;
  const n = counts.length;
  const total = counts.reduce((a, b) => a + b, 0);
  const peak = Math.max(0, ...counts);
  const top = niceMax(peak);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / n;
  const y = (v: number): number => PAD.top + plotH - (v / top) * plotH;
  const endMs = Date.parse(throughput.end);
  const minuteAt = (i: number): string =>
    formatTime(new Date(endMs - (n - 1 - i) * throughput.bucketSeconds * 1000).toISOString()).replace(/:\d\d$/, '');
  const peakAt = counts.indexOf(peak);
  const summary =
    total === 0
      ? `No segments accepted in the last ${n} minutes.`
      : `Accepted segments per minute over the last ${n} minutes: ${total} in all, at most ${peak} in one minute (at ${minuteAt(peakAt)}), ${counts[n - 1]} so far this minute.`;

  return (
    <figure className="chart" ref={box}>
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={summary}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line className="gridline" x1={PAD.left} x2={W - PAD.right} y1={y(top * f)} y2={y(top * f)} />
            <text className="axis" x={PAD.left - 6} y={y(top * f) + 4} textAnchor="end">
              {top * f}
            </text>
          </g>
        ))}
        {counts.map((c, i) =>
          c > 0 ? (
            <rect
              key={minuteAt(i)}
              className="bar-rect"
              x={PAD.left + i * slot + 1}
              width={Math.max(1, slot - 2)}
              y={y(c)}
              height={plotH - (y(c) - PAD.top)}
            >
              <title>{`${minuteAt(i)}: ${c} segment${c === 1 ? '' : 's'}`}</title>
            </rect>
          ) : null,
        )}
        {[0, Math.floor(n / 2), n - 1].map((i) => (
          <text
            key={i}
            className="axis"
            x={PAD.left + i * slot + slot / 2}
            y={H - 6}
            textAnchor={i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle'}
          >
            {i === n - 1 ? 'now' : `${n - i} min ago`}
          </text>
        ))}
      </svg>
      <figcaption className="muted">
        {total === 0
          ? 'No segments accepted in the last hour.'
          : `${total} segment${total === 1 ? '' : 's'} accepted in the last hour; at most ${peak} in a minute.`}
      </figcaption>
    </figure>
  );
}
