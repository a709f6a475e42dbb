import { AppError } from '@rehost/jobs';
import { redactUrl } from './fetch-errors.js';
import { checkTarget, type HostLists, hostMatches } from './host-policy.js';

const refusal = (url: string, lists: HostLists = { allowedHosts: [] }): AppError => {
  try {
    checkTarget(url, lists);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error(`${url} was accepted`);
};

describe('checkTarget', () => {
  it.each([
    ['ftp://example.com/a.png', /only http and https/],
    ['file:///etc/passwd', /only http and https/],
    ['gopher://example.com/', /only http and https/],
    ['http://user:pass@example.com/', /credentials/],
    ['http://user@example.com/', /credentials/],
    ['http://:secret@example.com/', /credentials/],
  ])('refuses %s', (url, reason) => {
    const err = refusal(url);
    expect(err.code).toBe('url_not_allowed');
    expect(err.permanent).toBe(true);
    expect(err.message).toMatch(reason);
  });

  it('refuses what is not an absolute URL', () => {
    expect(refusal('/relative/path').code).toBe('url_not_allowed');
    expect(refusal('http://[::1').code).toBe('url_not_allowed');
  });

  // Every way of writing a non-public address that the WHATWG parser accepts.
  it.each([
    ['http://127.0.0.1/', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://0177.0.0.1/', 'loopback'],
    ['http://017700000001/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://0x7f.1/', 'loopback'],
    ['http://127.0.0.1./', 'loopback'],
    ['http://１２７.0.0.1/', 'loopback'], // full-width digits
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:7f00:1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[0:0:0:0:0:ffff:127.0.0.1]/', 'loopback'],
    ['http://[64:ff9b::7f00:1]/', 'loopback'],
    ['http://[2002:7f00:1::]/', 'loopback'],
    ['http://0/', 'unspecified'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://[::]/', 'unspecified'],
    ['http://10.0.0.1/', 'private'],
    ['http://172.16.0.1/', 'private'],
    ['http://192.168.0.1/', 'private'],
    ['http://3232235521/', 'private'], // 192.168.0.1 as a number
    ['http://[fd00::2]/', 'private'],
    ['http://[::ffff:10.0.0.1]/', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://[::ffff:a9fe:a9fe]/', 'link-local'],
    ['http://100.64.0.1/', 'shared (CGNAT)'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[ff02::1]/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://240.0.0.1/', 'reserved'],
    ['https://[::7f00:1]/', 'reserved'],
  ])('refuses the IP literal in %s (%s)', (url, cls) => {
    const err = refusal(url);
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toContain(`${cls} address`);
  });

  it('accepts public literals and names (names are checked at connect time)', () => {
    expect(checkTarget('https://8.8.8.8/a.png', { allowedHosts: [] }).host).toBe('8.8.8.8');
    expect(checkTarget('http://[2606:4700:4700::1111]/', { allowedHosts: [] }).host).toBe('2606:4700:4700::1111');
    const t = checkTarget('https://Images.Example.COM./x', { allowedHosts: [] });
    expect(t).toMatchObject({ host: 'images.example.com', trusted: false });
  });

  it('lets a trusted host through whatever its address', () => {
    const t = checkTarget('http://127.0.0.1:8080/', { allowedHosts: [], trustedPrivateHosts: ['127.0.0.1'] });
    expect(t.trusted).toBe(true);
    // Trust is per host: another loopback spelling of a different host is still refused.
    expect(refusal('http://[::1]/', { allowedHosts: [], trustedPrivateHosts: ['127.0.0.1'] }).code).toBe(
      'url_not_allowed',
    );
  });

  it('enforces a non-empty allowlist, before any address question', () => {
    const lists = { allowedHosts: ['api.telegram.org', '*.cdn.example'] };
    expect(checkTarget('https://API.telegram.org/file/x', lists).host).toBe('api.telegram.org');
    expect(checkTarget('https://api.telegram.org./file/x', lists).host).toBe('api.telegram.org');
    expect(checkTarget('https://a.b.cdn.example/x', lists).host).toBe('a.b.cdn.example');
    for (const url of [
      'https://evil.example/',
      'https://api.telegram.org.evil.example/',
      'https://xapi.telegram.org/',
      'https://cdn.example/', // the wildcard does not cover the bare domain
      'https://evilcdn.example/',
      'https://8.8.8.8/',
    ]) {
      const err = refusal(url, lists);
      expect(err.message).toMatch(/is not in the allowed hosts/);
    }
  });

  it('applies the allowlist to trusted hosts too', () => {
    const err = refusal('http://127.0.0.1/', { allowedHosts: ['images.example'], trustedPrivateHosts: ['127.0.0.1'] });
    expect(err.message).toMatch(/not in the allowed hosts/);
  });
});

describe('hostMatches', () => {
  it('matches exactly, case-insensitively, with normalised IPv6 and an optional trailing dot', () => {
    expect(hostMatches('Example.com', ['example.COM'])).toBe(true);
    expect(hostMatches('example.com.', ['example.com'])).toBe(true);
    expect(hostMatches('::ffff:7f00:1', ['[::ffff:127.0.0.1]'])).toBe(true);
    expect(hostMatches('example.com', ['example.org', ''])).toBe(false);
    expect(hostMatches('example.com', ['*.'])).toBe(false);
    expect(hostMatches('a.example.com', ['*.example.com'])).toBe(true);
    expect(hostMatches('example.com', ['*.example.com'])).toBe(false);
  });
});

describe('redactUrl', () => {
  it('keeps scheme, host and path only', () => {
    expect(redactUrl('https://user:pw@img.example:8443/a/b.png?sig=SECRET#frag')).toBe('https://img.example:8443/a/b.png');
  });

  it('masks Bot API tokens in the path and cuts long paths', () => {
    expect(redactUrl('https://api.telegram.org/file/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1/p.jpg')).toBe(
      'https://api.telegram.org/file/bot[REDACTED]/p.jpg',
    );
    expect(redactUrl(`https://x.example/${'a'.repeat(500)}`).length).toBeLessThan(250);
    expect(redactUrl('::not a url')).toBe('<invalid URL>');
  });
});
