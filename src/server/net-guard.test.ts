import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addressProblem, checkedAddresses, isPrivateAddress, RemoteFetchError } from './net-guard.js';

describe('isPrivateAddress', () => {
  test('IPv4: private, loopback, link-local, CGNAT, reserved, multicast, broadcast are private; public unicast is not', () => {
    for (const ip of [
      '10.0.0.1',
      '127.0.0.1',
      '127.255.255.254',
      '169.254.169.254',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '198.18.0.1',
      '192.0.2.5',
    ]) {
      assert.equal(isPrivateAddress(ip), true, ip);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '93.184.216.34', '169.253.255.255']) {
      assert.equal(isPrivateAddress(ip), false, ip);
    }
  });

  test('IPv6: loopback, unspecified, unique-local, link-local, multicast, documentation are private; global unicast is not', () => {
    for (const ip of ['::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', 'ff02::1', '2001:db8::1', '0:0:0:0:0:0:0:1']) {
      assert.equal(isPrivateAddress(ip), true, ip);
    }
    for (const ip of ['2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '2001:4860:4860::8888']) {
      assert.equal(isPrivateAddress(ip), false, ip);
    }
  });

  test('IPv6 forms embedding IPv4 are judged by the IPv4 address (mapped, compatible, NAT64, 6to4)', () => {
    for (const ip of [
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.1.2.3',
      '::ffff:169.254.169.254',
      '::127.0.0.1',
      '64:ff9b::a9fe:a9fe',
      '2002:7f00:1::1',
      '2002:c0a8:101::1',
    ]) {
      assert.equal(isPrivateAddress(ip), true, ip);
    }
    for (const ip of ['::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']) {
      assert.equal(isPrivateAddress(ip), false, ip);
    }
  });

  test('SIIT ::ffff:0:a.b.c.d, local NAT64 64:ff9b:1::/48, Teredo and every non-unicast IPv6 range are refused (ipaddr.js ranges)', () => {
    const refused: [string, RegExp][] = [
      ['::ffff:0:127.0.0.1', /SIIT \(RFC 6145\) embedding 127\.0\.0\.1 \(loopback\)/],
      ['::ffff:0:a9fe:a9fe', /SIIT .* 169\.254\.169\.254 \(linkLocal\)/],
      ['::ffff:0:10.0.0.1', /SIIT .*private/],
      ['64:ff9b:1::a9fe:a9fe', /local-use NAT64/],
      ['64:ff9b:1:7f00:0:100::', /local-use NAT64/],
      ['64:ff9b:1::808:808', /local-use NAT64/],
      ['64:ff9b::7f00:1', /NAT64 \(64:ff9b::\/96\) embedding 127\.0\.0\.1/],
      ['64:ff9b::0a00:0001', /embedding 10\.0\.0\.1 \(private\)/],
      ['2002:a9fe:a9fe::', /6to4 embedding 169\.254\.169\.254/],
      ['2001:0:7f00:1::', /Teredo server embedding 127\.0\.0\.1/],
      ['2001:0:808:808:0:0:80ff:fffe', /Teredo client embedding 127\.0\.0\.1/], // client bits are inverted
      ['::ffff:255.255.255.255', /broadcast/],
      ['::7f00:1', /IPv4-compatible/],
      ['::8.8.8.8', /IPv4-compatible/],
      ['100::1', /discard/],
      ['2001:2::1', /benchmarking/],
      ['5f00::1', /segmentRouting/],
      ['3fff::1', /reserved/],
    ];
    for (const [ip, why] of refused) {
      assert.equal(isPrivateAddress(ip), true, ip);
      assert.match(addressProblem(ip) ?? '', why, ip);
    }
    for (const ip of ['::ffff:0:8.8.8.8', '2001:0:808:808:0:0:f7f7:f7f7']) assert.equal(addressProblem(ip), undefined, ip);
  });

  test('IPv4 literal forms Node does not accept (127.1, 0x7f.0.0.1, 017.0.0.1) count as private', () => {
    for (const s of ['127.1', '0x7f.0.0.1', '017.0.0.1', '2130706433']) assert.equal(isPrivateAddress(s), true, s);
  });

  test('anything that is not an IP literal counts as private', () => {
    for (const s of ['localhost', '', '999.1.1.1', 'example.com']) assert.equal(isPrivateAddress(s), true, s);
  });
});

describe('checkedAddresses', () => {
  test('a name resolving to loopback is refused unless private addresses are allowed (DNS of the machine, no network)', async () => {
    await assert.rejects(
      checkedAddresses('localhost', false),
      (e: unknown) => e instanceof RemoteFetchError && e.kind === 'forbidden' && /localhost/.test(e.message),
    );
    const ok = await checkedAddresses('localhost', true);
    assert.ok(ok.length >= 1);
  });

  test('IP literals (bracketed IPv6 too) are checked without DNS', async () => {
    await assert.rejects(checkedAddresses('[::1]', false), /private, loopback or link-local/);
    assert.deepEqual(await checkedAddresses('8.8.8.8', false), [{ address: '8.8.8.8', family: 4 }]);
  });
});
