export function Header() {
  return (
    <header className="site-header">
      <a className="brand" href="/">
        tabgrid
      </a>
      <nav aria-label="Site">
        {/* A full page load on purpose: the contributor page is a separate app served by the coordinator. */}
        <a className="donate" href="/contribute/">
          Donate compute
        </a>
      </nav>
    </header>
  );
}
