/** Test plumbing for the server tests: the tiny golden model, a server on a loopback port, JSON requests. */
import { readFileSync } from 'node:fs';
import { FgClip } from '../model/handle.js';
import { goldenPath } from '../test-util/goldens.js';
import { createServer, type FgClipServer, type ServerOptions } from './server.js';

export const TINY = goldenPath('fgclip-tiny');
export const CAT = goldenPath('images', 'cat_dfclor.jpg');
export const catBytes = (): Buffer => readFileSync(CAT);
export const catDataUri = (): string => `data:image/jpeg;base64,${catBytes().toString('base64')}`;

let shared: Promise<FgClip> | undefined;
/** One tiny model per test process (the server never disposes a model it was given). */
export function tinyModel(): Promise<FgClip> {
  shared ??= FgClip.load(TINY);
  return shared;
}

export interface Running {
  readonly server: FgClipServer;
  readonly url: string;
  readonly logs: string[];
}

/** A server on 127.0.0.1, a free port, logs captured. */
export async function start(options: Partial<ServerOptions> = {}): Promise<Running> {
  const logs: string[] = [];
  const server = createServer({ model: await tinyModel(), port: 0, host: '127.0.0.1', log: (l) => logs.push(l), ...options });
  const url = await server.listen();
  return { server, url, logs };
}

export interface Answer<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly json: T;
}

/** POSTs a JSON value (or a raw string/Buffer body) and parses the JSON answer. */
export async function post<T = any>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const raw = typeof body === 'string' ? body : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

export async function get<T = any>(url: string, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* text answer (metrics) */
  }
  return { status: res.status, headers: res.headers, json: json as T };
}

/** Decodes OpenAI's base64 embedding: little-endian float32. */
export function fromBase64(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}

/** Sum of a Prometheus series' samples whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
