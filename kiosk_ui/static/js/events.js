/* Server-sent events: the kiosk's events reach every screen's listeners, matched by
 * named kind (KIND, from firmware.events.EventKind), never a raw string. */
import { toast } from "./api.js";
import { CFG, KIND } from "./config.js";
import { activity } from "./session.js";
import { setUsb } from "./statusbar.js";

// -- server-sent events ----------------------------------------------------------------
const listeners = [];
export function onEvent(fn) { listeners.push(fn); }
if (CFG.signedIn) {
  const es = new EventSource("/api/v1/events");
  es.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    if (ev.kind === KIND.PAGE) activity();  // the pedal counts as someone working
    if (ev.kind === KIND.ERROR && ev.code) toast(CFG.lang === "vi" ? ev.message_vi : ev.message_en, "err", 6000);
    if (ev.kind === KIND.USB) setUsb(ev);
    listeners.forEach((fn) => fn(ev));
  };
}
