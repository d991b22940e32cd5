import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { parseCidr, parseCidrDetailed } from '../../src/config/index.ts';
import { parseIpAddress } from '../../src/config/cidr.ts';

t.test('IPv4 networks and bare addresses', async (t) => {
  const net = parseCidr('10.1.0.0/16');
  t.ok(net);
  if (net === undefined) return;
  t.equal(net.family, 4);
  t.equal(net.prefix, 16);
  t.equal(net.text, '10.1.0.0/16');
  t.same([...net.network], [10, 1, 0, 0]);
  t.ok(net.contains('10.1.0.0'));
  t.ok(net.contains('10.1.255.255'));
  t.notOk(net.contains('10.2.0.0'));
  t.notOk(net.contains('10.0.255.255'));

  const host = parseCidr('192.0.2.7');
  t.equal(host?.prefix, 32);
  t.equal(host?.text, '192.0.2.7/32');
  t.ok(host?.contains('192.0.2.7'));
  t.notOk(host?.contains('192.0.2.8'));

  const all = parseCidr('0.0.0.0/0');
  t.ok(all?.contains('255.255.255.255'));
  t.ok(all?.contains('0.0.0.0'));
  t.notOk(all?.contains('::1'), 'an IPv4 network never contains a plain IPv6 address');

  const odd = parseCidr('172.16.0.0/12');
  t.ok(odd?.contains('172.31.255.255'));
  t.notOk(odd?.contains('172.32.0.0'));
});

t.test('IPv6 networks, :: compression and embedded IPv4', async (t) => {
  const net = parseCidr('2001:DB8::/32');
  t.equal(net?.family, 6);
  t.equal(net?.text, '2001:db8::/32', 'canonical text is lower case and compressed');
  t.ok(net?.contains('2001:db8:ffff::1'));
  t.ok(net?.contains('2001:0db8:0000:0000:0000:0000:0000:0001'));
  t.notOk(net?.contains('2001:db9::'));
  t.notOk(net?.contains('32.1.13.184'), 'an IPv6 network does not contain IPv4 addresses');

  t.equal(parseCidr('::1')?.text, '::1/128');
  t.ok(parseCidr('::1')?.contains('0:0:0:0:0:0:0:1'));
  t.equal(parseCidr('::/0')?.text, '::/0');
  t.ok(parseCidr('::/0')?.contains('ffff::'));
  t.equal(parseCidr('fe80::/10')?.text, 'fe80::/10');
  t.ok(parseCidr('fe80::/10')?.contains('febf::1'));
  t.notOk(parseCidr('fe80::/10')?.contains('fec0::1'));
  t.equal(parseCidr('1:0:0:2:0:0:0:3')?.text, '1:0:0:2::3/128', 'the longest zero run is compressed');
  t.equal(parseCidr('1:0:0:2:0:0:3:4')?.text, '1::2:0:0:3:4/128', 'the first of equal runs is compressed');
  t.equal(parseCidr('1:2:3:4:5:6:7:0')?.text, '1:2:3:4:5:6:7:0/128', 'a single zero word is not compressed');
  t.equal(parseCidr('::ffff:10.0.0.0/104')?.text, '::ffff:10.0.0.0/104', 'mapped networks keep the dotted tail');
  t.same([...(parseCidr('::1.2.3.4')?.network ?? [])], [...Buffer.alloc(12), 1, 2, 3, 4]);
  t.ok(parseCidr('fe80::/64')?.contains('fe80::1%eth0'), 'a zone id on the address is ignored');
});

t.test('IPv4-mapped IPv6 addresses match IPv4 networks (dual-stack sockets)', async (t) => {
  const net = parseCidr('127.0.0.0/8');
  t.ok(net?.contains('::ffff:127.0.0.1'));
  t.ok(net?.contains('::FFFF:127.1.2.3'));
  t.ok(net?.contains('::ffff:7f00:1'), 'hex form of the mapped address');
  t.notOk(net?.contains('::ffff:128.0.0.1'));
  t.notOk(net?.contains('::127.0.0.1'), 'IPv4-compatible (deprecated) is not mapped');
  t.notOk(net?.contains('64:ff9b::127.0.0.1'), 'NAT64 is not mapped');
  const mapped = parseCidr('::ffff:0:0/96');
  t.ok(mapped?.contains('::ffff:1.2.3.4'));
  t.notOk(mapped?.contains('1.2.3.4'), 'an IPv6 network does not contain plain IPv4 addresses');
});

t.test('bad networks are refused with a reason', async (t) => {
  const reasons: Array<[string, RegExp]> = [
    ['', /not an IPv4 or IPv6 address/],
    ['10.0.0', /not an IPv4 or IPv6 address/],
    ['300.0.0.0/8', /not an IPv4 or IPv6 address/],
    ['010.0.0.0/8', /not an IPv4 or IPv6 address/],
    [' 10.0.0.0/8', /not an IPv4 or IPv6 address/],
    ['10.0.0.0/33', /prefix length must be 0\.\.32/],
    ['::/129', /prefix length must be 0\.\.128/],
    ['10.0.0.0/', /prefix length must be a number/],
    ['10.0.0.0/+8', /prefix length must be a number/],
    ['10.0.0.0/8 ', /prefix length must be a number/],
    ['10.0.0.0/1000', /prefix length must be a number/],
    ['10.0.0.0/8/8', /prefix length must be a number/],
    ['1:2:3:4:5:6:7:8:9', /not an IPv4 or IPv6 address/],
    ['1::2::3', /not an IPv4 or IPv6 address/],
    ['fe80::%eth0/64', /zone id/],
    ['example.com', /not an IPv4 or IPv6 address/],
  ];
  for (const [text, reason] of reasons) {
    const result = parseCidrDetailed(text);
    t.equal(result.ok, false, text);
    if (!result.ok) t.match(result.reason, reason, text);
    t.equal(parseCidr(text), undefined, text);
  }
});

t.test('host bits set are refused, naming the network meant', async (t) => {
  const v4 = parseCidrDetailed('10.0.0.1/24');
  t.same(v4.ok ? undefined : v4.reason, '"10.0.0.1/24" has host bits set after the /24 prefix (the network is 10.0.0.0/24)');
  const v6 = parseCidrDetailed('2001:db8::1/64');
  t.match(v6.ok ? '' : v6.reason, /host bits.*2001:db8::\/64/);
  t.equal(parseCidr('10.0.0.1/24'), undefined);
  t.ok(parseCidr('10.0.0.1/32'));
  t.match(parseCidrDetailed('0.0.0.1/0').ok ? '' : 'refused', 'refused');
});

t.test('contains() is false for anything that is not an address', async (t) => {
  const all = parseCidr('0.0.0.0/0');
  for (const text of ['', 'localhost', '1.2.3', '1.2.3.4/32', '::ffff:1.2.3', 'not an ip']) {
    t.notOk(all?.contains(text), JSON.stringify(text));
  }
});

t.test('the network bytes handed out are a copy; the Cidr is frozen and serialises as text', async (t) => {
  const net = parseCidr('10.0.0.0/8');
  if (net === undefined) {
    t.fail('parse');
    return;
  }
  net.network.fill(0xff);
  t.ok(net.contains('10.1.2.3'), 'mutating a copy changes nothing');
  t.ok(Object.isFrozen(net));
  t.equal(JSON.stringify({ net }), '{"net":"10.0.0.0/8"}');
  t.equal(String(net), '10.0.0.0/8');
});

/** The host-bit-free network of `address` / `prefix`, as text. */
function networkOf(address: string, prefix: number): string {
  const bytes = parseIpAddress(address);
  if (bytes === undefined) throw new Error(`not an address: ${address}`);
  for (let i = 0; i < bytes.length; i += 1) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return bytes.length === 4 ? [...bytes].join('.') : (bytes.toString('hex').match(/..../g) ?? []).join(':');
}

const MAPPED = parseCidr('::ffff:0:0/96') ?? assert.fail('::ffff:0:0/96');

/** Per family: addresses to draw, the longest prefix, and the forms of a probe to try. */
const FAMILIES = [
  // An IPv4 network must answer the same for a probe and for its IPv4-mapped IPv6 form.
  { family: 'ipv4', address: fc.ipV4(), maxPrefix: 32, forms: (probe: string) => [probe, `::ffff:${probe}`] },
  // BlockList lets IPv6 rules match mapped probes through their IPv4 form; ours compares IPv6
  // networks with IPv6 addresses bytewise, so mapped probes are left out of the comparison.
  { family: 'ipv6', address: fc.ipV6(), maxPrefix: 128, forms: (probe: string) => (MAPPED.contains(probe) ? [] : [probe]) },
] as const;

t.test('property: contains() agrees with node:net BlockList', async (t) => {
  for (const { family, address, maxPrefix, forms } of FAMILIES) {
    fc.assert(
      fc.property(fc.tuple(address, fc.integer({ min: 0, max: maxPrefix }), address), ([base, prefix, probe]) => {
        const network = networkOf(base, prefix);
        const cidr = parseCidr(`${network}/${prefix}`);
        const list = new BlockList();
        list.addSubnet(network, prefix, family);
        const expected = list.check(probe, family);
        return cidr !== undefined && cidr.contains(base) && forms(probe).every((form) => cidr.contains(form) === expected);
      }),
      { numRuns: 2000 },
    );
    t.pass(`${family}: property held`);
  }
});

t.test('property: canonical IPv6 text matches the WHATWG URL serialiser and round-trips', async (t) => {
  fc.assert(
    fc.property(fc.ipV6(), (address) => {
      const cidr = parseCidr(address);
      if (cidr === undefined) return false;
      const again = parseCidr(cidr.text);
      const sameBytes = again !== undefined && again.network.equals(cidr.network);
      const isMapped = cidr.text.startsWith('::ffff:') && cidr.text.includes('.');
      const whatwg = new URL(`http://[${address}]/`).hostname.slice(1, -1);
      return sameBytes && (isMapped || cidr.text === `${whatwg}/128`);
    }),
    { numRuns: 2000 },
  );
  t.pass('properties held');
});
