import { chromium } from 'playwright-core';
const [,, file, png] = process.argv;
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
const p = await b.newPage({ viewport: { width: 1200, height: 1000 } });
await p.goto('file://' + file);
const h = await p.evaluate(() => document.body.scrollHeight);
for (let y = 0, i = 0; y < h; y += 1000, i++) await p.screenshot({ path: png.replace('.png', `-${i}.png`), clip: { x: 0, y, width: 1200, height: Math.min(1000, h - y) }, fullPage: true });
await b.close();
