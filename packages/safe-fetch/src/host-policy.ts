import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { classifyAddress, describeClass } from './address-policy.js';
import { fetchErrors } from './fetch-errors.js';

export interface HostLists {
  allowedHosts: string[];
  trustedPrivateHosts?: string[] | undefined;
}

/** What the connection step must know about one URL that passed {@link checkTarget}. */
export interface Target {
  url: URL;
  /** Hostname without brackets or trailing dot: what is resolved and connected to. */
  host: string;
  /** Resolved addresses of a trusted host are not checked. */
  trusted: boolean;
}

/**
 * http is allowed as well as https: many image origins and webhook receivers still serve it,
 * and the SSRF guard is about where we connect, which the address checks decide either way.
 */
const SCHEMES = new Set(['http:', 'https:']);

/** Lowercase, no brackets, no trailing dot, IPv6 in its canonical short form. */
function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (isIP(h) === 6) h = ipaddr.IPv6.parse(h).toString();
  return h;
}

/** Exact, case-insensitive; `*.example.com` matches any subdomain of example.com (not example.com itself). */
export function hostMatches(host: string, patterns: readonly string[]): boolean {
  const h = normalizeHost(host);
  return patterns.some((raw) => {
    const p = raw.trim().toLowerCase();
    if (p.startsWith('*.')) {
      const suffix = normalizeHost(p.slice(1));
      return suffix.length > 1 && h.endsWith(suffix) && h.length > suffix.length;
    }
    return p !== '' && normalizeHost(p) === h;
  });
}

/**
 * Everything decidable without DNS: scheme, credentials, the host allowlist, and IP literals
 * in any notation (the WHATWG parser has already turned `2130706433`, `0x7f000001`,
 * `0177.0.0.1` and `127.1` into `127.0.0.1`). Node connects to a literal without calling
 * `lookup`, so this is the only place literals are checked — it must run before every hop.
 */
export function checkTarget(input: string | URL, lists: HostLists): Target {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw fetchErrors.invalidUrl();
  }
  if (!SCHEMES.has(url.protocol)) throw fetchErrors.notAllowed(url, `only http and https URLs are allowed`);
  if (url.username !== '' || url.password !== '') throw fetchErrors.notAllowed(url, 'credentials in URLs are not allowed');
  const host = normalizeHost(url.hostname);
  if (host === '') throw fetchErrors.notAllowed(url, 'the URL has no host');
  if (lists.allowedHosts.length > 0 && !hostMatches(host, lists.allowedHosts)) {
    throw fetchErrors.notAllowed(url, `host ${host} is not in the allowed hosts`);
  }
  const trusted = hostMatches(host, lists.trustedPrivateHosts ?? []);
  if (!trusted && isIP(host) !== 0) {
    const cls = classifyAddress(host);
    if (cls) throw fetchErrors.notAllowed(url, `the host is ${describeClass(cls)}`);
  }
  return { url, host, trusted };
}
