import { classifyAddress, isForbiddenAddress } from './address-policy.js';

// Teredo: 2001:0:<server v4>:<flags>:<port>:<client v4 xor ffff:ffff>
const teredo = (server: string, client: string) => {
  const hex = (v4: string, xor: number) => {
    const o = v4.split('.').map(Number) as [number, number, number, number];
    return `${(((o[0] << 8) | o[1]) ^ xor).toString(16)}:${(((o[2] << 8) | o[3]) ^ xor).toString(16)}`;
  };
  return `2001:0:${hex(server, 0)}:8000:63bf:${hex(client, 0xffff)}`;
};

describe('isForbiddenAddress', () => {
  it.each([
    // loopback, every notation ipaddr.js understands
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['2130706433', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    // RFC 1918 and its edges
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    // link-local, cloud metadata
    ['169.254.169.254', 'link-local'],
    ['169.254.0.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    // unique-local and the deprecated site-local
    ['fc00::1', 'private'],
    ['fd00::2', 'private'],
    ['fec0::1', 'private'],
    // CGNAT 100.64/10
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.255', 'shared (CGNAT)'],
    // this network, multicast, broadcast, reserved
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['100::1', 'reserved'],
    ['::7f00:1', 'reserved'], // IPv4-compatible ::127.0.0.1
    // IPv6 forms embedding a forbidden IPv4
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:0:7f00:1', 'loopback'], // RFC 6145 IPv4-translated
    ['64:ff9b::7f00:1', 'loopback'], // NAT64
    ['64:ff9b::192.168.0.1', 'private'],
    ['64:ff9b:1::a00:1', 'private'], // local-use NAT64 (RFC 8215)
    ['2002:7f00:1::', 'loopback'], // 6to4
    ['2002:a00:1::1', 'private'],
    [teredo('65.54.227.120', '10.0.0.1'), 'private'], // Teredo client
    [teredo('127.0.0.1', '8.8.8.8'), 'loopback'], // Teredo server
    // garbage fails closed
    ['not-an-ip', 'unparsable'],
    ['', 'unparsable'],
    ['1.2.3.4.5', 'unparsable'],
  ])('%s is forbidden (%s)', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
    expect(isForbiddenAddress(ip)).toBe(true);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '9.255.255.255', // just below 10/8
    '11.0.0.0', // just above 10/8
    '172.15.255.255', // just below 172.16/12
    '172.32.0.0', // just above
    '100.63.255.255', // just below 100.64/10
    '100.128.0.0', // just above
    '169.253.255.255',
    '192.167.255.255',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8', // mapped public
    '64:ff9b::808:808', // NAT64 of a public address: IPv6-only networks need it
    '2002:808:808::1', // 6to4 of a public address
    teredo('65.54.227.120', '8.8.8.8'),
  ])('%s is public', (ip) => {
    expect(classifyAddress(ip)).toBeNull();
    expect(isForbiddenAddress(ip)).toBe(false);
  });
});
