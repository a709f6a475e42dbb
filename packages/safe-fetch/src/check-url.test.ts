import type { Resolver } from './guarded-lookup.js';
import { checkUrl } from './safe-fetch.js';
import { rejectionOf } from './test-servers.js';

// checkUrl never connects; its resolver is a fake, so no name leaves the machine either.
const calls: string[] = [];
const dns: Resolver = async (hostname) => {
  calls.push(hostname);
  const table: Record<string, string[]> = {
    'images.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'sneaky.example': ['93.184.216.34', '192.168.1.10'],
    'meta.example': ['169.254.169.254'],
    'cgnat.example': ['100.64.12.1'],
    'internal.example': ['10.0.0.5'],
  };
  const addrs = table[hostname];
  if (!addrs) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

beforeEach(() => {
  calls.length = 0;
});

describe('checkUrl', () => {
  it('accepts a name whose addresses are all public', async () => {
    await expect(checkUrl('https://images.example/a.png', { allowedHosts: [], resolve: dns })).resolves.toBeUndefined();
    expect(calls).toEqual(['images.example']);
  });

  it.each([
    ['sneaky.example', 'a private address'],
    ['meta.example', 'a link-local address'],
    ['cgnat.example', 'a shared (CGNAT) address'],
  ])('refuses %s (resolves to %s)', async (host, reason) => {
    const err = await rejectionOf(checkUrl(`https://${host}/a.png?sig=SECRET`, { allowedHosts: [], resolve: dns }));
    expect(err).toMatchObject({ code: 'url_not_allowed', permanent: true });
    expect(err.message).toBe(`https://${host}/a.png is not allowed: the host resolves to ${reason}`);
  });

  it('refuses with the real resolver a name that resolves to 127.0.0.1', async () => {
    const err = await rejectionOf(checkUrl('http://localhost/x.png', { allowedHosts: [] }));
    expect(err.message).toBe('http://localhost/x.png is not allowed: the host resolves to a loopback address');
  });

  it('refuses literals and allowlist misses without resolving anything', async () => {
    for (const url of ['http://0x7f000001/', 'http://[::ffff:a9fe:a9fe]/', 'http://100.64.0.1/', 'http://[fc00::1]/']) {
      expect((await rejectionOf(checkUrl(url, { allowedHosts: [], resolve: dns }))).code).toBe('url_not_allowed');
    }
    const err = await rejectionOf(checkUrl('https://images.example/', { allowedHosts: ['api.telegram.org'], resolve: dns }));
    expect(err.message).toMatch(/not in the allowed hosts/);
    expect(calls).toEqual([]);
  });

  it('does not resolve trusted hosts (they may only resolve inside the workers network)', async () => {
    await expect(
      checkUrl('http://internal.example/hook', { allowedHosts: [], trustedPrivateHosts: ['internal.example'], resolve: dns }),
    ).resolves.toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('reports a name that does not resolve as retryable', async () => {
    const err = await rejectionOf(checkUrl('https://nowhere.example/', { allowedHosts: [], resolve: dns }));
    expect(err).toMatchObject({ code: 'source_unavailable', permanent: false });
  });
});
