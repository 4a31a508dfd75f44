import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCsv } from './csv.js';
import { bestRank, rankOf, recallAtK, topK } from './metrics.js';
import { formatTable, percent } from './report.js';

describe('ranking metrics', () => {
  test('rankOf counts strictly better scores, and ties that come earlier', () => {
    assert.equal(rankOf([0.1, 0.9, 0.5], 1), 0);
    assert.equal(rankOf([0.1, 0.9, 0.5], 2), 1);
    assert.equal(rankOf([0.1, 0.9, 0.5], 0), 2);
    assert.equal(rankOf([0.5, 0.5, 0.5], 0), 0);
    assert.equal(rankOf([0.5, 0.5, 0.5], 2), 2);
    assert.throws(() => rankOf([1], 1), /outside the 1 candidates/);
  });

  test('bestRank takes the best of several correct candidates', () => {
    assert.equal(bestRank([0.3, 0.2, 0.9, 0.1], [1, 3]), 2);
    assert.equal(bestRank([0.3, 0.2, 0.9, 0.1], [0, 2]), 0);
    assert.throws(() => bestRank([1], []), /no correct candidates/);
  });

  test('recallAtK is the share of ranks below k; topK orders best first with ties by index', () => {
    assert.deepEqual(recallAtK([0, 1, 4, 5, 9, 10], [1, 5, 10]), { 1: 1 / 6, 5: 3 / 6, 10: 5 / 6 });
    assert.deepEqual(recallAtK([], [1]), { 1: 0 });
    assert.deepEqual(topK([0.2, 0.9, 0.2, 0.5], 3), [1, 3, 0]);
  });
});

describe('csv', () => {
  test('quoted fields with commas, doubled quotes, newlines; CRLF; BOM; trailing newline', () => {
    const t = '\ufeffimage,caption\r\na.png,"a cat, sitting"\r\nb.png,"he said ""hi""\nthen left"\nc.png,plain\n';
    assert.deepEqual(parseCsv(t), [
      ['image', 'caption'],
      ['a.png', 'a cat, sitting'],
      ['b.png', 'he said "hi"\nthen left'],
      ['c.png', 'plain'],
    ]);
    assert.deepEqual(parseCsv('x,y'), [['x', 'y']]);
  });

  test('malformed quoting names the line', () => {
    assert.throws(() => parseCsv('a,b\nc,"open', 'f.csv'), /f\.csv:2: unterminated quoted field/);
    assert.throws(() => parseCsv('a,b\nc,d"e"\n', 'f.csv'), /f\.csv:2: a quote inside an unquoted field/);
  });
});

describe('report', () => {
  test('formatTable pads columns (first left, others right) under a rule', () => {
    assert.equal(
      formatTable(
        ['name', 'n'],
        [
          ['a', '10'],
          ['long name', '2'],
        ],
      ),
      'name        n\n---------  --\na          10\nlong name   2\n',
    );
    assert.equal(percent(0.12345), '12.35%');
  });
});
