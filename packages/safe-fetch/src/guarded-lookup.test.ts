import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { AppError } from '@rehost/jobs';
import { guardedLookup, type ResolvedAddress, type Resolver, resolveChecked, systemResolver } from './guarded-lookup.js';
import { checkTarget } from './host-policy.js';

const fakeResolver = (table: Record<string, string[]>): Resolver & { calls: string[] } => {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    const addrs = table[hostname];
    if (!addrs) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
};

type Outcome = { err: Error | null; address: string | LookupAddress[]; family?: number | undefined };

/** Calls a LookupFunction the way net.connect does. */
const callLookup = (lookup: LookupFunction, host: string, options: { all?: boolean; family?: number }) =>
  new Promise<Outcome>((resolve) => {
    lookup(host, options, (err, address, family) => resolve({ err, address, family }));
  });

const target = (url: string, trusted: string[] = []) => checkTarget(url, { allowedHosts: [], trustedPrivateHosts: trusted });

const table = {
  'public.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'mixed.example': ['93.184.216.34', '10.0.0.7'],
  'metadata.example': ['169.254.169.254'],
  'mapped.example': ['::ffff:127.0.0.1'],
  'nat64.example': ['64:ff9b::a00:1'],
  'internal.example': ['10.1.2.3'],
  'empty.example': [],
};

describe('guardedLookup', () => {
  it('answers all addresses of a public name when asked for all (happy eyeballs)', async () => {
    const out = await callLookup(guardedLookup(target('https://public.example/'), fakeResolver(table)), 'public.example', {
      all: true,
    });
    expect(out.err).toBeNull();
    expect(out.address).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
    ]);
  });

  it('answers one address of the requested family otherwise', async () => {
    const lookup = guardedLookup(target('https://public.example/'), fakeResolver(table));
    expect(await callLookup(lookup, 'public.example', {})).toMatchObject({ err: null, address: '93.184.216.34', family: 4 });
    expect(await callLookup(lookup, 'public.example', { family: 6 })).toMatchObject({
      err: null,
      address: '2606:2800:220:1:248:1893:25c8:1946',
      family: 6,
    });
  });

  it.each([
    ['mixed.example', 'a private address'],
    ['metadata.example', 'a link-local address'],
    ['mapped.example', 'a loopback address'],
    ['nat64.example', 'a private address'],
  ])('refuses %s: ANY non-public address fails the name', async (host, reason) => {
    const out = await callLookup(guardedLookup(target(`http://${host}/x?key=SECRET`), fakeResolver(table)), host, {
      all: true,
    });
    expect(out.err).toBeInstanceOf(AppError);
    expect(out.err).toMatchObject({ code: 'url_not_allowed', permanent: true });
    expect(out.err?.message).toBe(`http://${host}/x is not allowed: the host resolves to ${reason}`);
    // The message names the reason, not the address the name resolved to.
    expect(out.err?.message).not.toMatch(/10\.0\.0\.7|169\.254|127\.0\.0\.1|SECRET/);
  });

  it('checks every address even when the socket wants only one family', async () => {
    // 'mixed' has a public v4 and a private v4; asking for v6 only must not skip the check.
    const out = await callLookup(guardedLookup(target('http://mixed.example/'), fakeResolver(table)), 'mixed.example', {
      family: 6,
    });
    expect(out.err).toMatchObject({ code: 'url_not_allowed' });
  });

  it('passes private answers for a trusted host', async () => {
    const out = await callLookup(
      guardedLookup(target('http://internal.example/', ['internal.example']), fakeResolver(table)),
      'internal.example',
      { all: true },
    );
    expect(out).toEqual({ err: null, address: [{ address: '10.1.2.3', family: 4 }], family: undefined });
  });

  it('turns resolver failures and empty answers into retryable source_unavailable', async () => {
    const lookup = guardedLookup(target('http://nowhere.example/'), fakeResolver(table));
    const out = await callLookup(lookup, 'nowhere.example', { all: true });
    expect(out.err).toMatchObject({ code: 'source_unavailable', permanent: false });
    expect(out.err?.message).toMatch(/could not resolve .*ENOTFOUND/);
    const empty = await callLookup(guardedLookup(target('http://empty.example/'), fakeResolver(table)), 'empty.example', {});
    expect(empty.err).toMatchObject({ code: 'source_unavailable' });
  });
});

describe('systemResolver', () => {
  it('resolves localhost from /etc/hosts, and resolveChecked refuses it', async () => {
    const addrs = await systemResolver('localhost');
    expect(addrs.map((a) => a.address)).toContain('127.0.0.1');
    await expect(resolveChecked(target('http://localhost/'), 'localhost', systemResolver)).rejects.toMatchObject({
      code: 'url_not_allowed',
      message: 'http://localhost/ is not allowed: the host resolves to a loopback address',
    });
  });
});
