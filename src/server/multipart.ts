/**
 * A small, strict multipart/form-data parser (RFC 7578 over RFC 2046 §5.1.1) for bodies already read into memory
 * under the server's size limit. It keeps what browsers and curl send — `Content-Disposition: form-data; name=…;
 * filename=…` and `Content-Type` per part — and rejects anything malformed rather than guessing.
 */
import { badRequest } from './http-error.js';

export interface MultipartPart {
  readonly name: string;
  readonly filename?: string;
  readonly contentType?: string;
  readonly data: Buffer;
}

export interface MultipartLimits {
  /** parts allowed in one body */
  readonly maxParts: number;
  /** bytes of one part's header block */
  readonly maxHeaderBytes: number;
}

const DEFAULT_LIMITS: MultipartLimits = { maxParts: 1000, maxHeaderBytes: 8 * 1024 };
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

const malformed = (what: string) =>
  badRequest('INVALID_JSON', `multipart/form-data body: ${what}. Send fields as form-data parts (curl -F name=value -F image=@photo.jpg).`);

/** The `boundary` parameter of a multipart Content-Type (RFC 2046: 1–70 chars, quoted or a token). */
export function boundaryOf(contentType: string): string {
  const params = parseParams(contentType.slice(contentType.indexOf(';') + 1));
  const b = params.get('boundary');
  if (contentType.indexOf(';') < 0 || b === undefined || b.length < 1 || b.length > 70) throw malformed('the Content-Type has no valid boundary parameter');
  return b;
}

export function parseMultipart(body: Buffer, contentType: string, limits: MultipartLimits = DEFAULT_LIMITS): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundaryOf(contentType)}`);
  // the first delimiter is at the start or after a CRLF ending the preamble
  let pos = body.subarray(0, delimiter.length).equals(delimiter) ? 0 : body.indexOf(Buffer.concat([CRLF, delimiter]));
  if (pos < 0) throw malformed('the boundary never occurs');
  if (pos > 0) pos += CRLF.length;
  const parts: MultipartPart[] = [];
  for (;;) {
    pos += delimiter.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // "--": close delimiter, epilogue ignored
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw malformed('a boundary line is not followed by CRLF');
    pos += 2;
    const headerEnd = body.indexOf(HEADER_END, pos);
    if (headerEnd < 0 || headerEnd - pos > limits.maxHeaderBytes)
      throw malformed(headerEnd < 0 ? 'a part has no end of headers' : `a part's headers exceed ${limits.maxHeaderBytes} bytes`);
    const headers = parseHeaders(body.subarray(pos, headerEnd).toString('utf8'));
    const dataStart = headerEnd + HEADER_END.length;
    const next = body.indexOf(Buffer.concat([CRLF, delimiter]), dataStart);
    if (next < 0) throw malformed('the body ends before the closing boundary');
    if (parts.length >= limits.maxParts) throw malformed(`more than ${limits.maxParts} parts`);
    parts.push(partOf(headers, body.subarray(dataStart, next)));
    pos = next + CRLF.length;
  }
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  if (block === '') return headers;
  for (const line of block.split('\r\n')) {
    const i = line.indexOf(':');
    if (i <= 0) throw malformed(`bad part header line ${JSON.stringify(line.slice(0, 60))}`);
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return headers;
}

function partOf(headers: Map<string, string>, data: Buffer): MultipartPart {
  const cd = headers.get('content-disposition');
  if (!cd) throw malformed('a part has no Content-Disposition header');
  const semi = cd.indexOf(';');
  const kind = (semi < 0 ? cd : cd.slice(0, semi)).trim().toLowerCase();
  if (kind !== 'form-data') throw malformed(`a part's Content-Disposition is ${JSON.stringify(kind)}, expected form-data`);
  const params = parseParams(semi < 0 ? '' : cd.slice(semi + 1));
  const name = params.get('name');
  if (name === undefined || name === '') throw malformed('a part has no name');
  const filename = params.get('filename*') !== undefined ? decodeExtValue(params.get('filename*') as string) : params.get('filename');
  const contentType = headers.get('content-type');
  return { name, ...(filename !== undefined ? { filename } : {}), ...(contentType ? { contentType } : {}), data };
}

/** `; key=value; key="quoted \" value"` → map (keys lowercased). */
export function parseParams(s: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  while (i < s.length) {
    skipWs();
    if (s[i] === ';') {
      i++;
      continue;
    }
    const eq = s.indexOf('=', i);
    if (eq < 0) break;
    const key = s.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    skipWs();
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i++];
      }
      if (s[i] !== '"') throw malformed(`unterminated quoted parameter ${JSON.stringify(key)}`);
      i++;
    } else {
      const end = s.indexOf(';', i);
      value = s.slice(i, end < 0 ? s.length : end).trim();
      i = end < 0 ? s.length : end;
    }
    if (key) out.set(key, value);
  }
  return out;
}

/** RFC 5987 ext-value `UTF-8''percent%20encoded` (browsers do not send it, some clients do). */
function decodeExtValue(v: string): string {
  const m = /^([\w!#$%&+^`{}~-]+)'[^']*'(.*)$/.exec(v);
  if (!m) throw malformed(`bad filename* parameter ${JSON.stringify(v.slice(0, 60))}`);
  try {
    return decodeURIComponent(m[2]);
  } catch {
    throw malformed(`bad percent-encoding in filename* ${JSON.stringify(v.slice(0, 60))}`);
  }
}
