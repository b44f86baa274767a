import { useEffect, useRef, type ReactNode } from 'react';
import { takeFocusRequest } from '../router';

/**
 * A page's h1. After an in-app navigation it takes focus, so keyboard and
 * screen-reader users start on the new page as after a full load; on the
 * first load focus stays where the browser put it.
 */
export function PageHeading({ children, className }: { children: ReactNode; className?: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (takeFocusRequest()) ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1} className={className}>
      {children}
    </h1>
  );
}
