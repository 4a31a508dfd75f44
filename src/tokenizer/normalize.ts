/**
 * Normalizer steps of a tokenizer.json (tokenizers/src/normalizers). CLIP's is
 * `Sequence[NFC, Replace(Regex "\s+" → " "), Lowercase]`; the steps run in file order on the whole text.
 */

export type UnicodeForm = 'NFC' | 'NFD' | 'NFKC' | 'NFKD';

export type NormalizerStep =
  | { readonly kind: 'unicode'; readonly form: UnicodeForm }
  | { readonly kind: 'lowercase' }
  /** `pattern` is global; every match is replaced by the literal `content` */
  | { readonly kind: 'replace'; readonly pattern: RegExp; readonly content: string };

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Rust strings cannot hold lone surrogates; the Node binding of `tokenizers` receives them as U+FFFD
 * (V8's UTF-8 conversion replaces them), so we do the same before anything else.
 */
export function toWellFormed(text: string): string {
  return ANY_SURROGATE.test(text) ? text.replace(LONE_SURROGATE, '\uFFFD') : text;
}

/**
 * `Lowercase` maps each code point on its own with Rust's `char::to_lowercase` (normalizer.rs `lowercase`), so
 * it has no context rules: a word-final 'Σ' becomes 'σ', whereas `String.prototype.toLowerCase` gives 'ς'
 * (Final_Sigma is the only locale-independent context rule of SpecialCasing.txt, so the per-character path is
 * needed only when the text holds a capital sigma).
 */
function lowercasePerChar(text: string): string {
  if (!text.includes('\u03A3')) return text.toLowerCase();
  let out = '';
  for (const ch of text) out += ch.toLowerCase();
  return out;
}

export function applyNormalizer(steps: readonly NormalizerStep[], text: string): string {
  let s = text;
  for (const step of steps) {
    switch (step.kind) {
      case 'unicode':
        s = s.normalize(step.form);
        break;
      case 'lowercase':
        s = lowercasePerChar(s);
        break;
      case 'replace':
        step.pattern.lastIndex = 0;
        // a function replacer keeps `content` literal (no `$&` expansion)
        s = s.replace(step.pattern, () => step.content);
        break;
    }
  }
  return s;
}
