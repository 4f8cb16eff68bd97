/* The script's own words, translated by the server (kiosk_ui.i18n.JS_MESSAGES). */
import { CFG } from "./config.js";

export const T = (s) => CFG.messages[s] || s;
