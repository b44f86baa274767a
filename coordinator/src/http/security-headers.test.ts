import { describe, expect, it } from 'vitest';
import { contentSecurityPolicies, policyKindFor } from './security-headers.js';

const directives = (policy: string) => new Map(policy.split('; ').map((d) => [d.split(' ')[0]!, d.split(' ').slice(1)]));

describe('contentSecurityPolicies', () => {
  it('lets the contributor page compile wasm and start workers, and nothing run inline', () => {
    const p = directives(contentSecurityPolicies([]).contributor);
    expect(p.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(p.get('worker-src')).toEqual(["'self'", 'blob:']);
    expect(p.get('script-src')).not.toContain("'unsafe-inline'");
    expect(p.get('script-src')).not.toContain("'unsafe-eval'");
  });

  it('adds an external S3’s origin where presigned URLs are fetched, played and shown, and nowhere else', () => {
    const { dashboard, contributor } = contentSecurityPolicies(['https://s3.example:9000']);
    const d = directives(dashboard);
    for (const directive of ['connect-src', 'media-src', 'img-src'])
      expect(d.get(directive), directive).toContain('https://s3.example:9000');
    expect(d.get('script-src')).toEqual(["'self'"]);
    expect(directives(contributor).get('connect-src')).toEqual(["'self'", 'https://s3.example:9000']);
  });

  it('forbids framing, plugins and <base> on every kind of response', () => {
    for (const [kind, policy] of Object.entries(contentSecurityPolicies([]))) {
      const p = directives(policy);
      expect(p.get('frame-ancestors'), kind).toEqual(["'none'"]);
      expect(p.get('object-src'), kind).toEqual(["'none'"]);
      expect(p.get('base-uri'), kind).toEqual(["'none'"]);
    }
    expect(directives(contentSecurityPolicies([]).none).get('default-src')).toEqual(["'none'"]);
  });
});

describe('policyKindFor', () => {
  it('serves the contributor page, the API and the dashboard each with its own policy', () => {
    expect(policyKindFor('/contribute/')).toBe('contributor');
    expect(policyKindFor('/contribute/assets/worker-x.js')).toBe('contributor');
    expect(policyKindFor('/api/jobs')).toBe('none');
    expect(policyKindFor('/healthz')).toBe('none');
    expect(policyKindFor('/')).toBe('dashboard');
    expect(policyKindFor('/share/abc')).toBe('dashboard');
    expect(policyKindFor('/contributed')).toBe('dashboard');
    expect(policyKindFor('/apix')).toBe('dashboard');
  });
});
