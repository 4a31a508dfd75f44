/**
 * Deterministic benchmark captions: zero-shot style short prompts ("a photo of a cat.", 6–12 tokens) and long
 * descriptive captions of ~150 tokens like the FineHARD / ShareGPT4V captions FG-CLIP's long-text path is for.
 */
import { Rng } from './synthetic.js';

const LABELS = [
  'cat',
  'dog',
  'golden retriever',
  'tabby cat',
  'red sports car',
  'school bus',
  'bicycle',
  'espresso machine',
  'wooden chair',
  'laptop computer',
  'mountain lake',
  'lighthouse',
  'hot air balloon',
  'sunflower',
  'pizza',
  'bowl of ramen',
  'violin',
  'grand piano',
  'sailboat',
  'steam locomotive',
  'parrot',
  'goldfish',
  'tiger',
  'elephant',
  'zebra',
  'giraffe',
  'brown bear',
  'penguin',
  'castle',
  'suspension bridge',
  'snowy owl',
  'strawberry',
];
const TEMPLATES = [
  'a photo of a {}.',
  'a close-up photo of the {}.',
  'a blurry photo of a {}.',
  'a bright photo of a {}.',
  'a {} in the wild.',
  'an origami {}.',
];

/** `n` short prompts cycling over labels and templates. */
export function shortPrompts(n: number): string[] {
  return Array.from({ length: n }, (_, i) => TEMPLATES[i % TEMPLATES.length].replace('{}', LABELS[i % LABELS.length]));
}

const SUBJECTS = [
  'a young woman in a yellow raincoat',
  'an elderly man with a grey beard',
  'a small brown dog with a red collar',
  'a white ceramic teapot',
  'a vintage blue bicycle',
  'a group of children in school uniforms',
  'a tall glass of iced coffee',
  'a black and white cat',
];
const ACTIONS = ['stands next to', 'is resting on', 'leans against', 'is placed in front of', 'walks along', 'sits beside'];
const PLACES = [
  'a weathered wooden fence',
  'a busy street corner with parked cars',
  'a kitchen counter covered with flour',
  'a narrow cobblestone alley',
  'a sunlit window sill',
  'a riverbank lined with willow trees',
];
const DETAILS = [
  'The background shows a row of brick houses with green shutters and potted plants on the balconies.',
  'Soft afternoon light falls from the left, casting long shadows across the ground.',
  'In the foreground there are scattered autumn leaves in orange, red and brown.',
  'A faded poster on the wall advertises a summer music festival in large pink letters.',
  'The sky is overcast, and the colors of the scene are muted and slightly cool.',
  'On the right side of the image, a street lamp with an ornate iron frame is partially visible.',
  'Several small objects, including a set of keys, a folded newspaper and a pair of sunglasses, lie nearby.',
  'The photograph is taken from a low angle, which makes the main subject appear taller than it is.',
  'Reflections of the surrounding buildings can be seen in a puddle on the pavement.',
  'The texture of the surface is rough, with visible cracks, scratches and patches of moss.',
];

/** `n` descriptive captions, each grown sentence by sentence until `countTokens` reaches `targetTokens`. */
export function longCaptions(n: number, countTokens: (t: string) => number, targetTokens = 150): string[] {
  const rng = new Rng(2024);
  const pick = <T>(xs: readonly T[]) => xs[rng.nextU32() % xs.length];
  return Array.from({ length: n }, () => {
    let text = `${capitalize(pick(SUBJECTS))} ${pick(ACTIONS)} ${pick(PLACES)}.`;
    while (countTokens(text) < targetTokens) text += ` ${pick(DETAILS)}`;
    return text;
  });
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
