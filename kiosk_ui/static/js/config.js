/* The page's configuration (rendered by the server in #config) and DOM shorthands. */

export const CFG = JSON.parse(document.getElementById("config").textContent);
/** The event kinds, from firmware.events.EventKind (KIND.PAGE === "page"). */
export const KIND = Object.freeze(CFG.kinds);
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
export const screen = document.body.dataset.screen;
