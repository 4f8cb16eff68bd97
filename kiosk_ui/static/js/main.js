/* Sohoa kiosk touchscreen: build-free ES modules, one per screen plus shared ones.
 * The server renders each screen; these add the keypad, the on-screen Vietnamese keyboard,
 * live events (server-sent), the live camera view, idle sign-out and the API calls.
 * The shared modules set themselves up on import (in this order, as the single script
 * did); then the screen named by <body data-screen> gets its own start. */
import { screen } from "./config.js";
import "./language.js";
import "./statusbar.js";
import "./session.js";
import "./events.js";
import "./update.js";
import "./home.js";
import "./keyboard.js";
import { initDocument } from "./screens/document.js";
import { initExport } from "./screens/export.js";
import { initMaintenance } from "./screens/maintenance.js";
import { bindCustodyReturn, initProgress } from "./screens/progress.js";
import { initReview } from "./screens/review.js";
import { initScan } from "./screens/scan.js";
import { initSignin } from "./screens/signin.js";

const inits = {
  maintenance: initMaintenance,
  signin: initSignin, scan: initScan, review: initReview, document: initDocument, export: initExport,
  progress: () => { bindCustodyReturn(); initProgress(); },
};
if (inits[screen]) inits[screen]();
