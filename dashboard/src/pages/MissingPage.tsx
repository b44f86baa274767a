import { Link, paths } from '../router';
import { PageHeading } from '../components/PageHeading';

export function MissingPage({ what }: { what: string }) {
  return (
    <section className="panel">
      <PageHeading>Not found</PageHeading>
      <p>{what}</p>
      <p>
        <Link href={paths.jobs()}>See all jobs</Link>
      </p>
    </section>
  );
}
