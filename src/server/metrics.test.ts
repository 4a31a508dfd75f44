import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, ServerMetrics } from './metrics.js';

test('Prometheus text: counters with escaped labels, cumulative histogram buckets with +Inf, _sum and _count', () => {
  const c = new Counter('x_total', 'help text');
  c.inc({ route: 'a"b\\c\nd' });
  c.inc({ route: 'a"b\\c\nd' }, 2);
  assert.deepEqual(c.render(), ['# HELP x_total help text', '# TYPE x_total counter', 'x_total{route="a\\"b\\\\c\\nd"} 3']);
  const h = new Histogram('lat', 'h', [1, 5]);
  for (const v of [0.5, 1, 3, 10]) h.observe({ l: 'x' }, v);
  assert.deepEqual(h.render().slice(2), [
    'lat_bucket{l="x",le="1"} 2',
    'lat_bucket{l="x",le="5"} 3',
    'lat_bucket{l="x",le="+Inf"} 4',
    'lat_sum{l="x"} 14.5',
    'lat_count{l="x"} 4',
  ]);
  assert.deepEqual(h.stats({ l: 'x' }), { count: 4, sum: 14.5 });
});

test('ServerMetrics renders the queue depth, running batches and in-flight gauges from live callbacks', () => {
  let depth = 3;
  let running = 1;
  const m = new ServerMetrics(
    () => [{ lane: 'image', depth, running }],
    () => 2,
  );
  assert.match(m.render(), /fgclip_queue_depth\{lane="image"\} 3/);
  assert.match(m.render(), /fgclip_batches_running\{lane="image"\} 1/);
  running = 0;
  assert.match(m.render(), /fgclip_batches_running\{lane="image"\} 0/);
  depth = 0;
  assert.match(m.render(), /fgclip_queue_depth\{lane="image"\} 0/);
  assert.match(m.render(), /fgclip_http_requests_in_flight 2/);
  assert.match(m.render(), /# TYPE process_resident_memory_bytes gauge/);
  assert.match(m.render(), /^nodejs_eventloop_lag_p99_seconds \d/m);
  assert.match(m.render(), /^nodejs_eventloop_lag_max_seconds \d/m);
  m.close();
});
