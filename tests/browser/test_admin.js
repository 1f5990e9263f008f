// Browser test of the admin page (GET /): the real uniqd on a temporary
// data directory and a free port, Debian's headless Chromium driven by
// playwright-core. It loads the page with an admin token, types a prefix
// and sees the capacity left, sees an impossible count refused before
// sending, starts a code job and watches it finish, downloads its file and
// checks it line by line, borrows and returns a number, places an order,
// and keeps a screenshot (UNIQ_ARTIFACTS, default the build directory).
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
      { name: "int", kind: "int", shards: 1, shard_size: 1000 },
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

async function main() {
  if (!fs.existsSync(CHROMIUM)) unavailable("no Chromium at " + CHROMIUM);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uniqd-browser-"));
  const { proc, port } = await startServer(dir);
  const base = "http://127.0.0.1:" + port;
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync"],
    });
    const context = await browser.newContext({ acceptDownloads: true,
                                               viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
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
    await page.click('table[data-leases="users"] tr[data-number="100"] button');
    await page.waitForSelector('table[data-leases="users"] tr[data-number="100"]', { state: "detached" });
    check(true, "the number is returned and leaves the list");

    // Place an order.
    await page.click("#order-btn");
    await page.waitForFunction(() => /^\d{8}-00001$/.test(document.getElementById("order-id").textContent));
    check(true, "an order id is placed and shown");

    await page.screenshot({ path: path.join(ARTIFACTS, "admin-page.png"), fullPage: true });
    check(errors.length === 0, "no script error on the page (" + errors.join("; ") + ")");
  } finally {
    if (browser) await browser.close();
    proc.kill("SIGTERM");
    await new Promise((r) => proc.on("exit", r));
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
