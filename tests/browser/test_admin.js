// Browser test of the admin page (GET /): the real uniqd on a temporary
// data directory and a free port, Debian's headless Chromium driven by
// playwright-core. It loads the page with an admin token, types a prefix
// and sees the capacity left, sees an impossible count refused before
// sending, starts a code job and watches it finish, downloads its file and
// checks it line by line, borrows and returns a number (and refreshes the
// lease list twice at once: no row twice), shows each shard's fill from
// GET /pools, places an order, and keeps a screenshot (UNIQ_ARTIFACTS,
// default the build directory), taken also when a step fails. uniqd must
// exit 0 on SIGTERM at the end.
//
// Exit status: 0 when every check passed, 1 otherwise (meson reads it).
"use strict";
const fs = require("fs");
const REQUIRED = !!process.env.UNIQ_REQUIRE_BROWSER;

/* Without Chromium or playwright-core this test cannot run: meson is told
 * it was skipped (77), unless UNIQ_REQUIRE_BROWSER (set by tests/run.sh,
 * which installs both) makes that a failure. */
function unavailable(what) {
  console.log((REQUIRED ? "FAIL " : "SKIP ") + what +
              " (tests/run.sh installs it: apt-get install chromium; " +
              "npm ci in tests/browser)");
  process.exit(REQUIRED ? 1 : 77);
}
let chromium;
try {
  ({ chromium } = require("playwright-core"));
} catch (e) {
  unavailable("playwright-core is not installed");
}
const { spawn } = require("child_process");
const os = require("os");
const path = require("path");

const UNIQD = process.env.UNIQD || "build/server/uniqd";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = process.env.UNIQ_ARTIFACTS || ".";
const SLOW = Number(process.env.UNIQ_TEST_SLOW || "1");
const TOKEN = "browser-test-token";

let failures = 0;
function check(cond, what) {
  if (cond) {
    console.log("ok   " + what);
  } else {
    failures++;
    console.log("FAIL " + what);
  }
}

function startServer(dir) {
  const cfg = path.join(dir, "config.json");
  fs.writeFileSync(cfg, JSON.stringify({
    admin_token: TOKEN,
    pools: [
      { name: "int", kind: "int", shards: 2, shard_size: 1000 },
      { name: "codes", kind: "code", pattern: "###-###", alphabet: "ABCDEFGH",
        shards: 1, shard_size: 100 },
      { name: "orders", kind: "sequence" },
      { name: "users", kind: "lease", start: 100, count: 5 },
    ],
  }));
  const log = fs.openSync(path.join(dir, "uniqd.log"), "w");
  const proc = spawn(UNIQD, ["--config", cfg, "--data-dir", path.join(dir, "data"),
                             "--listen", "127.0.0.1:0"],
                     { stdio: ["ignore", log, log] });
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20000 * SLOW;
    const poll = () => {
      const text = fs.readFileSync(path.join(dir, "uniqd.log"), "utf8");
      const m = text.match(/listening on 127\.0\.0\.1:(\d+)/);
      if (m) return resolve({ proc, port: Number(m[1]) });
      if (proc.exitCode !== null || Date.now() > deadline)
        return reject(new Error("uniqd did not start:\n" + text));
      setTimeout(poll, 50);
    };
    poll();
  });
}

/* Stops uniqd with SIGTERM; resolves to its exit code (null if a signal
 * ended it), or "timeout". */
function stopServer(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null)
      return resolve(proc.exitCode);
    const timer = setTimeout(() => { proc.kill("SIGKILL"); resolve("timeout"); },
                             30000 * SLOW);
    proc.on("exit", (code) => { clearTimeout(timer); resolve(code); });
    proc.kill("SIGTERM");
  });
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) unavailable("no Chromium at " + CHROMIUM);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uniqd-browser-"));
  const { proc, port } = await startServer(dir);
  const base = "http://127.0.0.1:" + port;
  let browser, page;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync"],
    });
    const context = await browser.newContext({ acceptDownloads: true,
                                               viewport: { width: 390, height: 844 } });
    page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.setDefaultTimeout(15000 * SLOW);

    await page.goto(base + "/");
    await page.waitForSelector('#pools tr[data-pool="codes"]');
    check((await page.locator("#pools tbody tr").count()) === 4, "the pools table lists 4 pools");
    // On a phone's width the capacity and remaining columns give way to a
    // short line under each pool's name.
    const narrow = await page.textContent('#pools tr[data-pool="users"] .narrow');
    check(/^\d+ of \d+ left$/.test(narrow.trim()) && await page.isVisible('#pools tr[data-pool="users"] .narrow'),
          "remaining and capacity are shown on a phone (" + narrow + ")");

    // Each shard's fill, from GET /pools's shards[].ready: one bar and
    // number per shard, labelled with its name.
    const api = await page.evaluate(() => fetch("/pools").then((r) => r.json()));
    const apiInt = api.pools.find((p) => p.name === "int");
    const shown = await page.$$eval('#pools tr[data-pool="int"] [data-shard]',
      (els) => els.map((e) => ({ name: e.dataset.shard, title: e.title,
                                 n: e.querySelector(".n").textContent })));
    check(shown.length === 2 && shown.map((x) => x.name).join() ===
          apiInt.shards.map((x) => x.name).join(),
          "one fill per shard of int (" + shown.map((x) => x.name).join() + ")");
    check(shown.length > 0 && shown.every((x) => /: [\d,]+ ready in the shard and its hopper \(the shard refills to 1,000\)$/.test(x.title) &&
                             /^[\d.]+K?$/.test(x.n)),
          "each shard shows its ready count (" + shown.map((x) => x.title).join("; ") + ")");

    // The admin token, asked once and kept in the tab's session storage.
    page.once("dialog", (d) => d.accept(TOKEN));
    await page.click("#token-btn");
    await page.waitForFunction(() => sessionStorage.getItem("uniqd-token") !== null);
    check(await page.textContent("#token-state") === "admin token set", "the token is kept");

    // Draw a value.
    await page.click('#pools tr[data-pool="int"] button');
    await page.waitForFunction(() => /^int: \d+$/.test(document.getElementById("draw-out").textContent));
    check(true, "a value is drawn from the int pool");

    // The capacity for the prefix as it is typed: ###-### over 8 symbols
    // has 8^6 = 262144 codes, "AB" leaves 8^4 = 4096.
    await page.selectOption("#job-pool", "codes");
    await page.fill("#job-prefix", "AB");
    await page.waitForFunction(() => /of 4,096 codes remain/.test(document.getElementById("job-hint").textContent));
    check(true, "the capacity of prefix AB is shown as it is typed");
    await page.fill("#job-prefix", "AB9");
    await page.waitForFunction(() => /outside the alphabet/.test(document.getElementById("job-hint").textContent));
    check(await page.isDisabled("#job-submit"), "a prefix with a symbol outside the alphabet is refused");
    await page.fill("#job-prefix", "AB");
    await page.waitForFunction(() => /remain/.test(document.getElementById("job-hint").textContent));
    await page.fill("#job-count", "5000");
    await page.waitForFunction(() => /Only/.test(document.getElementById("job-hint").textContent));
    check(await page.isDisabled("#job-submit"), "a count above what remains is refused before sending");

    // A job: started, followed, downloaded.
    await page.fill("#job-count", "3000");
    await page.waitForFunction(() => !document.getElementById("job-submit").disabled);
    await page.click("#job-submit");
    const row = page.locator("#jobs tbody tr").first();
    await row.locator("text=done").waitFor();
    check(/3,000\/3,000/.test(await row.textContent()), "the job's progress reaches 3,000 of 3,000");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      row.locator("button", { hasText: "Download" }).click(),
    ]);
    const file = path.join(dir, "codes.csv");
    await download.saveAs(file);
    const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l);
    check(lines.length === 3000, "the download has 3000 lines (" + lines.length + ")");
    check(lines.every((l) => /^AB[A-H]-[A-H]{3}$/.test(l)), "every line is a code under AB");
    check(new Set(lines).size === lines.length, "no code twice in the file");

    // Borrow a number, then give it back.
    await page.click('button[data-borrow="users"]');
    await page.waitForSelector('table[data-leases="users"] tr[data-number="100"]');
    check(true, "a number is borrowed and listed");
    // The 5 s timer and a button can reload the list at once: no row
    // twice, one table.
    await page.evaluate(() => Promise.all([loadLeases(), loadLeases(), refresh()]));
    await page.waitForTimeout(300);
    check(await page.locator('table[data-leases="users"]').count() === 1 &&
          await page.locator('table[data-leases="users"] tr[data-number="100"]').count() === 1,
          "concurrent refreshes list the lease once");
    await page.click('table[data-leases="users"] tr[data-number="100"] button');
    await page.waitForSelector('table[data-leases="users"] tr[data-number="100"]', { state: "detached" });
    check(true, "the number is returned and leaves the list");

    // Place an order.
    await page.click("#order-btn");
    await page.waitForFunction(() => /^\d{8}-00001$/.test(document.getElementById("order-id").textContent));
    check(true, "an order id is placed and shown");

    check(errors.length === 0, "no script error on the page (" + errors.join("; ") + ")");
  } finally {
    // The screenshot is most wanted when a step failed.
    if (page)
      await page.screenshot({ path: path.join(ARTIFACTS, "admin-page.png"), fullPage: true })
        .catch((e) => console.log("FAIL screenshot: " + e.message));
    if (browser) await browser.close().catch(() => {});
    const code = await stopServer(proc);
    check(code === 0, "uniqd exits 0 on SIGTERM (" + code + ")");
    if (code !== 0)
      console.log(fs.readFileSync(path.join(dir, "uniqd.log"), "utf8").slice(-3000));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log(failures ? failures + " checks failed" : "all checks passed");
  process.exit(failures ? 1 : 0);
}, (e) => {
  console.log("FAIL " + (e && e.stack || e));
  process.exit(1);
});
