// Opens the single-file Allure report in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; no browser download) and prints, as JSON, what a person sees:
// the groups (one per feature), the scenario names once every group is expanded, and for
// one opened scenario its Gherkin steps, its description (paragraphs and code blocks, as
// rendered), the text of its steps once each is opened (parameters, attachment names) and
// the names of its attachments. Screenshots of
// the overview and of the opened scenario are written next to <screenshot.png>.
//   node tests/report/inspect_report.mjs <report.html> <screenshot.png> <scenario to open>
//   node tests/report/inspect_report.mjs <report.html> <screenshot.png> --categories-only
import { chromium } from "playwright-core";

const [, , reportPath, shotPath, openName] = process.argv;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const remoteRequests = [];
const ids = async (page) => [...new Set([...(await page.content()).matchAll(/data-testid="([^"]+)"/g)].map((m) => m[1]))];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // the report is a local file: anything it asks of the network is refused and listed
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (/^(file|data|blob):/.test(url)) return route.continue();
    remoteRequests.push(url);
    return route.abort();
  });
  await page.goto("file://" + reportPath, { timeout: 120000 });
  await page.waitForSelector("[data-testid='tree-section']", { state: "attached", timeout: 120000 });  // a loaded machine takes its time
  // the Categories tab exists only when some result failed or broke
  let categories = "";
  if (await page.locator("[data-testid='nav-tab-categories']").count() > 0) {
    await page.locator("[data-testid='nav-tab-categories']").click();
    await page.waitForTimeout(500);
    categories = await page.locator("body").innerText();
    await page.screenshot({ path: shotPath.replace(/\.png$/, "-categories.png") });
  }
  if (openName === "--categories-only") {
    console.log(JSON.stringify({ categories, remoteRequests }));
    process.exit(0);
  }
  const groups = await page.locator("[data-testid='tree-section-title']").allInnerTexts();
  const arrows = page.locator("[data-testid='tree-arrow']");
  for (let i = 0; i < await arrows.count(); i++) await arrows.nth(i).click();
  await page.waitForSelector("[data-testid='tree-leaf-title']", { state: "attached", timeout: 10000 });
  const leaves = await page.locator("[data-testid='tree-leaf-title']").allInnerTexts();
  await page.locator("[data-testid='report-header'], [data-testid='report-title']").first().scrollIntoViewIfNeeded();
  await page.screenshot({ path: shotPath });
  await page.locator("[data-testid='tree-leaf-title']", { hasText: openName }).first().click();
  await page.waitForSelector("[data-testid='test-result-step-title']", { state: "attached", timeout: 10000 });
  const steps = await page.locator("[data-testid='test-result-step-title']").allInnerTexts();
  // every step opened: its parameters and attachments as a person reads them
  const stepTitles = page.locator("[data-testid='test-result-step-title']");
  for (let i = 0; i < await stepTitles.count(); i++) {
    await stepTitles.nth(i).click().catch(() => {});
  }
  await page.waitForTimeout(300);
  const openedText = await page.locator("body").innerText();
  await page.screenshot({ path: shotPath.replace(/\.png$/, "-steps.png"), fullPage: true });
  // the description is rendered into its own frame: its paragraphs and its code blocks
  const description = page.frameLocator("[data-testid='test-result-description-frame']");
  await description.locator("p").first().waitFor({ state: "attached", timeout: 10000 });
  const descriptionParagraphs = await description.locator("p").allInnerTexts();
  const descriptionBlocks = await description.locator("pre").allInnerTexts();
  await page.screenshot({ path: shotPath.replace(/\.png$/, "-scenario.png") });
  await page.locator("[data-testid='test-result-tab-attachments']").click();
  await page.waitForTimeout(300);
  const attachmentIds = (await ids(page)).filter((id) => id.includes("attachment"));
  const attachments = await page.locator("[data-testid*='attachment'] [data-testid*='name'], [data-testid='test-result-attachment-header']").allInnerTexts();
  const bodyText = await page.locator("body").innerText();
  console.log(JSON.stringify({ groups, leaves, steps, descriptionParagraphs, descriptionBlocks,
                               attachments, attachmentIds, categories, remoteRequests,
                               openedText, bodyText: bodyText.slice(0, 4000) }));
} finally {
  await browser.close();
}
