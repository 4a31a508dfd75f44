import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { boundaryOf, parseMultipart, parseParams } from './multipart.js';
import { parseBody, UploadedImage } from './body.js';

const CT = 'multipart/form-data; boundary=----b0undary';
const body = (...parts: string[]) => Buffer.from(parts.map((p) => `------b0undary\r\n${p}\r\n`).join('') + '------b0undary--\r\n', 'latin1');

describe('multipart/form-data parser', () => {
  test('fields and files: names, filenames, content types and exact bytes (CRLF inside data kept)', () => {
    const bytes = '\x00\x01\r\n\xff binary';
    const parts = parseMultipart(
      body(
        'Content-Disposition: form-data; name="labels"\r\n\r\n["a","b"]',
        `Content-Disposition: form-data; name="image"; filename="c a\\"t.jpg"\r\nContent-Type: image/jpeg\r\n\r\n${bytes}`,
      ),
      CT,
    );
    assert.equal(parts.length, 2);
    assert.equal(parts[0].name, 'labels');
    assert.equal(parts[0].data.toString(), '["a","b"]');
    assert.equal(parts[1].filename, 'c a"t.jpg');
    assert.equal(parts[1].contentType, 'image/jpeg');
    assert.deepEqual(parts[1].data, Buffer.from(bytes, 'latin1'));
  });

  test('preamble and epilogue are ignored; an empty part body is kept', () => {
    const b = Buffer.concat([Buffer.from('preamble text\r\n'), body('Content-Disposition: form-data; name="x"\r\n\r\n'), Buffer.from('epilogue')]);
    const parts = parseMultipart(b, CT);
    assert.equal(parts.length, 1);
    assert.equal(parts[0].data.length, 0);
  });

  test('malformed bodies are 400s: no boundary parameter, missing close delimiter, no name, not form-data, no disposition', () => {
    const bad = (b: Buffer | string, ct = CT) =>
      assert.throws(
        () => parseMultipart(Buffer.from(b), ct),
        (e: unknown) => (e as { status: number }).status === 400,
      );
    bad(body('Content-Disposition: form-data; name="x"\r\n\r\n1'), 'multipart/form-data');
    bad('------b0undary\r\nContent-Disposition: form-data; name="x"\r\n\r\nno end');
    bad(body('Content-Disposition: form-data\r\n\r\n1'));
    bad(body('Content-Disposition: attachment; name="x"\r\n\r\n1'));
    bad(body('Content-Type: text/plain\r\n\r\n1'));
    bad('no delimiter at all');
    bad(body(`Content-Disposition: form-data; name="x"\r\nX-Long: ${'a'.repeat(9000)}\r\n\r\n1`));
  });

  test('boundary and parameter parsing: quoted values with escapes, RFC 5987 filename*', () => {
    assert.equal(boundaryOf('multipart/form-data; boundary="a b;c"'), 'a b;c');
    const p = parseParams(' name="a\\"b"; filename=plain.txt');
    assert.equal(p.get('name'), 'a"b');
    assert.equal(p.get('filename'), 'plain.txt');
    const parts = parseMultipart(body(`Content-Disposition: form-data; name="f"; filename*=UTF-8''caf%C3%A9.png\r\n\r\nx`), CT);
    assert.equal(parts[0].filename, 'café.png');
  });

  test('parseBody maps parts to a request: JSON values, plain strings, uploads, repeated names as lists, __proto__ as a plain field', () => {
    const req = parseBody(
      body(
        'Content-Disposition: form-data; name="labels"\r\n\r\n["a cat","a dog"]',
        'Content-Disposition: form-data; name="texts"\r\n\r\nwhite cat',
        'Content-Disposition: form-data; name="images"; filename="1.png"\r\n\r\nAAA',
        'Content-Disposition: form-data; name="images"; filename="2.png"\r\n\r\nBBB',
        'Content-Disposition: form-data; name="__proto__"\r\n\r\n{"polluted":true}',
      ),
      CT,
    );
    assert.deepEqual(req.labels, ['a cat', 'a dog']);
    assert.equal(req.texts, 'white cat');
    assert.ok(Array.isArray(req.images) && req.images.every((x) => x instanceof UploadedImage));
    assert.deepEqual(
      (req.images as UploadedImage[]).map((x) => x.data.toString()),
      ['AAA', 'BBB'],
    );
    assert.ok(Object.keys(req).includes('__proto__'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
