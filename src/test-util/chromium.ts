/**
 * The browser every browser test and the browser bench drive: Debian's Chromium through playwright-core (never a
 * downloaded browser: `npx playwright install` reaches outside the npm registry).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** No GPU (so WebGPU has no adapter unless a caller adds --enable-unsafe-webgpu), no network chatter; playwright gives each launch an empty profile. */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
];

/** Throws a clear error when Debian's chromium is not installed. */
export function assertChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y chromium)`);
}

/** Launches Debian's Chromium with the test flags and `extra` ones. */
export async function launchChromium(extra: readonly string[] = []): Promise<Browser> {
  assertChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_FLAGS, ...extra] });
}
