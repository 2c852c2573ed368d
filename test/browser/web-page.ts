/**
 * The page check of `npm run test:browser`: examples/web driven end to end in Chromium, as a user
 * would. A tiny run is trained in Node (`mrn train`), a synthetic case predicted by `mrn predict`;
 * then the page loads the run through its folder picker, makes the same synthetic case itself and
 * predicts it on wasm, and predicts the case folder (picked) with the demo-model button (the run
 * served beside the page). Both P(PD) must equal `mrn predict`'s within 1e-4; the explanation's
 * screenshot must show the drawn figure; and the page must request nothing but its own files.
 * `MRN_WEB_SCREENSHOT=<file.png>` saves a screenshot of the whole page.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { runCli } from '../../src/cli/run-cli.js';
import { encodeSyntheticCase, generateSyntheticCase } from '../../src/synth/cohort.js';
import { bundlePage, WASM_DIR, WEB_DIR } from '../../examples/web/build.js';
import { captureIO } from '../helpers/cli-io.js';
import { trainTinyRun } from '../helpers/tiny-run.js';
import type { CheckResult } from './harness.js';
import { decodePng } from './png-decode.js';
import { serveStatic } from './serve.js';

/** The check's name (MRN_BROWSER_ONLY matches it). */
export const WEB_PAGE_CHECK =
  'examples/web: a run and a case predicted in the page = mrn predict, explanation drawn';
/** The synthetic case the page makes: seed 7 (the page's default), index 2 of 10, small field of view. */
const SEED = 7;
const INDEX = 2;
const TOL = 1e-4;

/** The little of the DOM the page callbacks use (this project type-checks without the DOM's types). */
interface PageDom {
  document: {
    getElementById(id: string): {
      dataset: Record<string, string | undefined>;
      textContent: string | null;
      removeAttribute(name: string): void;
    } | null;
  };
}

/** `mrn predict` (Node) on the case folders under `data`: P(PD) by case id. */
async function nodePredict(data: string, run: string, out: string): Promise<Map<string, number>> {
  const io = captureIO();
  const code = await runCli(
    ['predict', '--data', data, '--model', run, '--out', path.join(out, 'pred.csv')],
    io.io,
  );
  if (code !== 0) throw new Error(`mrn predict failed (${code}): ${io.err.join('\n')}`);
  const rows = fs.readFileSync(path.join(out, 'pred.details.csv'), 'utf8').trim().split('\n').slice(1);
  return new Map(rows.map((r) => r.split(',')).map((c) => [c[0]!, Number(c[2])]));
}

/** Waits until the text of element `id` matches `pattern` (a regex source). */
async function waitForText(page: Page, id: string, pattern: string): Promise<void> {
  await page.waitForFunction(
    ([i, p]) =>
      new RegExp(p!).test((globalThis as unknown as PageDom).document.getElementById(i!)!.textContent ?? ''),
    [id, pattern],
    { timeout: 60_000 },
  );
}

/** The explanation's screenshot, decoded: its size, the share of drawn (non-white) pixels, its colours. */
async function inspectExplanation(page: Page): Promise<{ summary: string; error?: string }> {
  const tiles = await page.locator('#explanation svg image').count();
  const shot = decodePng(await page.locator('#explanation svg').screenshot());
  const colours = new Set<number>();
  let ink = 0;
  for (let i = 0; i < shot.width * shot.height; i++) {
    const [r, g, b] = [shot.rgba[i * 4]!, shot.rgba[i * 4 + 1]!, shot.rgba[i * 4 + 2]!];
    if (r < 245 || g < 245 || b < 245) ink++;
    if (colours.size < 10_000) colours.add((r << 16) | (g << 8) | b);
  }
  const inkFraction = ink / (shot.width * shot.height);
  const summary = `explanation: ${tiles} slice tiles, screenshot ${shot.width}x${shot.height}, ${(100 * inkFraction).toFixed(1)} % drawn, ${colours.size} colours`;
  if (tiles === 0) return { summary, error: 'the explanation SVG has no slice images' };
  if (shot.width < 200 || shot.height < 100) return { summary, error: 'the explanation is too small' };
  if (!(inkFraction > 0.1) || colours.size < 50)
    return { summary, error: 'the explanation screenshot is (nearly) blank' };
  return { summary };
}

/** Trains the tiny run, writes the synthetic case's folder and predicts it with `mrn predict`. */
async function runAndCase(
  root: string,
): Promise<{ run: string; caseDir: string; caseId: string; want: number }> {
  const { run } = await trainTinyRun(root, 2);
  const c = generateSyntheticCase(INDEX, { cases: 10, seed: SEED, fov: 'small' });
  const caseDir = path.join(root, 'cases', c.id);
  fs.mkdirSync(caseDir, { recursive: true });
  for (const [name, bytes] of Object.entries(encodeSyntheticCase(c)))
    fs.writeFileSync(path.join(caseDir, name), bytes);
  const want = (await nodePredict(path.join(root, 'cases'), run, root)).get(c.id)!;
  return { run, caseDir, caseId: c.id, want };
}

/** Clicks Predict and waits for the result's P(PD). */
async function predictInPage(page: Page): Promise<{ prob: number; caseId: string }> {
  await page.evaluate(() =>
    (globalThis as unknown as PageDom).document.getElementById('result')!.removeAttribute('data-prob'),
  );
  await page.click('#predict');
  await page.waitForFunction(
    () =>
      (globalThis as unknown as PageDom).document.getElementById('result')!.dataset.prob !== undefined ||
      (globalThis as unknown as PageDom).document.getElementById('error')!.textContent !== '',
    undefined,
    { timeout: 120_000 },
  );
  const error = await page.textContent('#error');
  if (error) throw new Error(`the page failed: ${error}`);
  return page.evaluate(() => {
    const r = (globalThis as unknown as PageDom).document.getElementById('result')!;
    return { prob: Number(r.dataset.prob), caseId: r.dataset.case! };
  });
}

/** Runs the page check in `browser`; never throws (a failure is a failed result). */
export async function checkWebPage(browser: Browser): Promise<CheckResult> {
  const started = Date.now();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-web-page-'));
  const lines: string[] = [];
  let server: Awaited<ReturnType<typeof serveStatic>> | undefined;
  try {
    const { run, caseDir, caseId, want } = await runAndCase(root);
    lines.push(`mrn predict ${caseId}: P(PD) ${want.toFixed(6)}`);

    server = await serveStatic({
      '/': { body: fs.readFileSync(path.join(WEB_DIR, 'index.html')), type: 'text/html' },
      '/dist/app.js': { body: await bundlePage(), type: 'text/javascript' },
      '/dist/wasm/': { dir: WASM_DIR },
      '/dist/demo-run/': { dir: run },
    });
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const foreign: string[] = [];
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(server!.url) && !u.startsWith('blob:') && !u.startsWith('data:')) foreign.push(u);
    });
    page.on('pageerror', (e) => lines.push(`page error: ${e.message}`));
    await page.goto(`${server.url}/?backend=wasm`);
    await page.waitForSelector('body[data-ready="true"]');

    // 1. The run through the folder picker; the synthetic case made in the page.
    await page.setInputFiles('#run-folder', run);
    await waitForText(page, 'model-status', 'member\\(s\\)');
    await page.fill('#synth-seed', String(SEED));
    await page.selectOption('#synth-case', String(INDEX));
    await page.click('#synth-use');
    await waitForText(page, 'case-status', caseId);
    const synth = await predictInPage(page);
    lines.push(`page, picked run, synthetic case: P(PD) ${synth.prob.toFixed(6)} (${synth.caseId})`);

    // 2. The demo-model button (the run served beside the page) and the case folder picked.
    await page.click('#demo-model');
    await waitForText(page, 'model-status', '^demo model: 2 member');
    await page.setInputFiles('#case-folder', caseDir);
    await waitForText(page, 'case-status', `^case ${caseId}:`);
    const folder = await predictInPage(page);
    lines.push(`page, demo model, case folder: P(PD) ${folder.prob.toFixed(6)} (${folder.caseId})`);
    const worst = Math.max(Math.abs(synth.prob - want), Math.abs(folder.prob - want));
    if (!(worst <= TOL))
      throw new Error(`the page's P(PD) differs from mrn predict's by ${worst.toExponential(2)} (> ${TOL})`);
    if (folder.caseId !== caseId) throw new Error(`the case folder's id is ${folder.caseId}, not ${caseId}`);

    // 3. The explanation is drawn: its screenshot is mostly not background, in many colours.
    const drawn = await inspectExplanation(page);
    lines.push(drawn.summary);
    if (drawn.error) throw new Error(drawn.error);
    // MRN_WEB_SCREENSHOT=<file.png> keeps a screenshot of the whole page, to look at.
    if (process.env.MRN_WEB_SCREENSHOT)
      await page.screenshot({ path: process.env.MRN_WEB_SCREENSHOT, fullPage: true });
    if (foreign.length) throw new Error(`the page requested other hosts: ${foreign.join(', ')}`);
    await page.close();
    return { name: WEB_PAGE_CHECK, ok: true, detail: lines.join('; '), ms: Date.now() - started };
  } catch (error) {
    const detail = `${lines.join('\n')}\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
    return { name: WEB_PAGE_CHECK, ok: false, detail, ms: Date.now() - started };
  } finally {
    await server?.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}
