import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { classifyAddress, describeClass } from './address-policy.js';
import { fetchErrors } from './fetch-errors.js';
import type { Target } from './host-policy.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every A and AAAA address of a name. Injected in tests; see {@link systemResolver}. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** getaddrinfo, as a plain connection would use it (honours /etc/hosts, so `localhost` is caught). */
export const systemResolver: Resolver = async (hostname) => {
  const all = await dns.promises.lookup(hostname, { all: true, order: 'verbatim' });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/**
 * Resolves `hostname` and refuses if ANY address is not public (unless the target is trusted):
 * a name with one public and one private record must not get a chance to connect to the
 * private one.
 */
export async function resolveChecked(target: Target, hostname: string, resolve: Resolver): Promise<ResolvedAddress[]> {
  let addrs: ResolvedAddress[];
  try {
    addrs = await resolve(hostname);
  } catch (err) {
    throw fetchErrors.dns(target.url, err);
  }
  if (addrs.length === 0) throw fetchErrors.dns(target.url, { code: 'ENOTFOUND' });
  if (!target.trusted) {
    for (const a of addrs) {
      const cls = classifyAddress(a.address);
      if (cls) throw fetchErrors.notAllowed(target.url, `the host resolves to ${describeClass(cls)}`);
    }
  }
  return addrs;
}

const wantedFamily = (family: number | string | undefined): 4 | 6 | undefined =>
  family === 4 || family === 'IPv4' ? 4 : family === 6 || family === 'IPv6' ? 6 : undefined;

/**
 * A `lookup` for the socket itself: the addresses checked are the addresses connected to, so a
 * name that answers "public" to a validation step and "127.0.0.1" to the connection (DNS
 * rebinding) is still refused. Node calls it with `all: true` when it races address families.
 */
export function guardedLookup(target: Target, resolve: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolveChecked(target, hostname, resolve).then(
      (addrs) => {
        const family = wantedFamily(options.family);
        const usable = family ? addrs.filter((a) => a.family === family) : addrs;
        const first = usable[0];
        if (!first) callback(fetchErrors.dns(target.url, { code: 'ENOTFOUND' }), '');
        else if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (err: Error) => callback(err, ''),
    );
  };
}
