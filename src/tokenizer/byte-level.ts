/**
 * GPT-2 byte-level alphabet, as used by the `ByteLevel` pre-tokenizer and decoder of HF `tokenizers`
 * (tokenizers/src/pre_tokenizers/byte_level.rs `bytes_char`; openai/CLIP simple_tokenizer.py `bytes_to_unicode`).
 *
 * Every byte maps to one printable code point so that BPE never sees whitespace or control characters:
 * the 188 printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves, the remaining 68 bytes map,
 * in increasing byte order, to U+0100, U+0101, … All 256 targets are single UTF-16 units.
 */

function buildByteToChar(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const isPrintable = new Set(printable);
  const table = new Array<string>(256);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(isPrintable.has(b) ? b : 256 + next++);
  }
  return table;
}

/** byte value → its byte-level character */
const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** byte-level character (UTF-16 code unit) → byte value */
const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c.charCodeAt(0), b]));

const utf8 = new TextEncoder();

/** UTF-8 bytes of `piece` written as byte-level characters (lone surrogates become U+FFFD, as in Rust strings). */
export function byteLevelEncode(piece: string): string {
  let ascii = true;
  for (let i = 0; i < piece.length; i++) {
    if (piece.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  let out = '';
  if (ascii) {
    for (let i = 0; i < piece.length; i++) out += BYTE_TO_CHAR[piece.charCodeAt(i)];
    return out;
  }
  for (const b of utf8.encode(piece)) out += BYTE_TO_CHAR[b];
  return out;
}

/**
 * `ByteLevel` decoder (byte_level.rs `decode_chain`): each token's characters are mapped back to bytes; a token
 * holding any character outside the alphabet contributes its own UTF-8 bytes instead. The byte string is then
 * decoded lossily (invalid sequences → U+FFFD per maximal subpart, like Rust's `String::from_utf8_lossy`).
 */
export function byteLevelDecode(tokens: readonly string[]): string {
  const bytes: number[] = [];
  for (const t of tokens) {
    const mapped: number[] = [];
    let ok = true;
    for (let i = 0; i < t.length; i++) {
      const b = CHAR_TO_BYTE.get(t.charCodeAt(i));
      if (b === undefined) {
        ok = false;
        break;
      }
      mapped.push(b);
    }
    if (ok) for (const b of mapped) bytes.push(b);
    else for (const b of utf8.encode(t)) bytes.push(b);
  }
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(Uint8Array.from(bytes));
}
