/**
 * Prompt templates for zero-shot classification. `imagenet` is the 80-template set of OpenAI's CLIP notebook
 * (Prompt_Engineering_for_ImageNet.ipynb), which FG-CLIP's ImageNet evaluation reuses (in_1K/templates.py:8-89,
 * docs/model-spec.md §6.5); `none` uses each label as its own prompt. A template has exactly one `{}` where the label goes.
 */
import { readFileSync } from 'node:fs';
import { FgClipError } from '../errors.js';

export const IMAGENET_TEMPLATES: readonly string[] = Object.freeze([
  'a bad photo of a {}.',
  'a photo of many {}.',
  'a sculpture of a {}.',
  'a photo of the hard to see {}.',
  'a low resolution photo of the {}.',
  'a rendering of a {}.',
  'graffiti of a {}.',
  'a bad photo of the {}.',
  'a cropped photo of the {}.',
  'a tattoo of a {}.',
  'the embroidered {}.',
  'a photo of a hard to see {}.',
  'a bright photo of a {}.',
  'a photo of a clean {}.',
  'a photo of a dirty {}.',
  'a dark photo of the {}.',
  'a drawing of a {}.',
  'a photo of my {}.',
  'the plastic {}.',
  'a photo of the cool {}.',
  'a close-up photo of a {}.',
  'a black and white photo of the {}.',
  'a painting of the {}.',
  'a painting of a {}.',
  'a pixelated photo of the {}.',
  'a sculpture of the {}.',
  'a bright photo of the {}.',
  'a cropped photo of a {}.',
  'a plastic {}.',
  'a photo of the dirty {}.',
  'a jpeg corrupted photo of a {}.',
  'a blurry photo of the {}.',
  'a photo of the {}.',
  'a good photo of the {}.',
  'a rendering of the {}.',
  'a {} in a video game.',
  'a photo of one {}.',
  'a doodle of a {}.',
  'a close-up photo of the {}.',
  'a photo of a {}.',
  'the origami {}.',
  'the {} in a video game.',
  'a sketch of a {}.',
  'a doodle of the {}.',
  'a origami {}.',
  'a low resolution photo of a {}.',
  'the toy {}.',
  'a rendition of the {}.',
  'a photo of the clean {}.',
  'a photo of a large {}.',
  'a rendition of a {}.',
  'a photo of a nice {}.',
  'a photo of a weird {}.',
  'a blurry photo of a {}.',
  'a cartoon {}.',
  'art of a {}.',
  'a sketch of the {}.',
  'a embroidered {}.',
  'a pixelated photo of a {}.',
  'itap of the {}.',
  'a jpeg corrupted photo of the {}.',
  'a good photo of a {}.',
  'a plushie {}.',
  'a photo of the nice {}.',
  'a photo of the small {}.',
  'a photo of the weird {}.',
  'the cartoon {}.',
  'art of the {}.',
  'a drawing of the {}.',
  'a photo of the large {}.',
  'a black and white photo of a {}.',
  'the plushie {}.',
  'a dark photo of a {}.',
  'itap of a {}.',
  'graffiti of the {}.',
  'a toy {}.',
  'itap of my {}.',
  'a photo of a cool {}.',
  'a photo of a small {}.',
  'a tattoo of the {}.',
]);

/** `none`: the label is the prompt; `imagenet`: the 80 OpenAI templates; or an explicit list. */
export type TemplateSpec = 'none' | 'imagenet' | readonly string[];

/** The identity template: `none` is the same as `['{}']`. */
const IDENTITY = ['{}'] as const;

/** Resolves a spec to a checked template list (each with exactly one `{}`). */
export function resolveTemplates(spec: TemplateSpec = 'none'): readonly string[] {
  if (spec === 'none') return IDENTITY;
  if (spec === 'imagenet') return IMAGENET_TEMPLATES;
  if (!Array.isArray(spec)) {
    throw new FgClipError('INPUT_INVALID', `templates: expected 'none', 'imagenet' or a list of strings (got ${JSON.stringify(spec)})`);
  }
  if (spec.length === 0) throw new FgClipError('INPUT_INVALID', "templates: the template list is empty (give at least one, e.g. 'a photo of a {}.')");
  spec.forEach((t, i) => {
    if (typeof t !== 'string' || t.split('{}').length !== 2) {
      throw new FgClipError('INPUT_INVALID', `templates: template ${i + 1} must contain exactly one {} where the label goes (got ${JSON.stringify(t)})`);
    }
  });
  return spec;
}

/** The prompt for one label and template (the label is inserted verbatim, as Python's `str.format`). */
export function fillTemplate(template: string, label: string): string {
  const i = template.indexOf('{}');
  return template.slice(0, i) + label + template.slice(i + 2);
}

/**
 * A templates file: one template per line, `{}` marks the label; blank lines and lines starting with # skipped.
 */
export function readTemplatesFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FgClipError(
      'INPUT_INVALID',
      `templates file ${path}: cannot read it (${(e as Error).message}). Give none, imagenet or a file with one template per line.`,
    );
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (!l || l.startsWith('#')) return;
    if (l.split('{}').length !== 2)
      throw new FgClipError('INPUT_INVALID', `templates file ${path}: line ${i + 1} must contain exactly one {} (got ${JSON.stringify(l)})`);
    out.push(l);
  });
  if (out.length === 0) throw new FgClipError('INPUT_INVALID', `templates file ${path}: no templates in it (expected one per line, with {} for the label)`);
  return out;
}
