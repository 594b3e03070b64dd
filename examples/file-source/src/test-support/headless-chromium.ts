import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";

/** Where Debian puts Chromium; CHROMIUM_PATH overrides it. */
export const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

/** Why browser tests cannot run here, for a test's `skip`; false when Chromium is installed. */
export const noChromium: string | false = !existsSync(chromiumPath) && `no Chromium at ${chromiumPath}`;

/** Runs `use` with a new page of a headless Chromium that talks to nothing but what the test opens; closes it after. */
export async function withHeadlessPage<T>(
  use: (page: Awaited<ReturnType<Browser["newPage"]>>) => Promise<T>,
): Promise<T> {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    return await use(await browser.newPage());
  } finally {
    await browser.close();
  }
}
