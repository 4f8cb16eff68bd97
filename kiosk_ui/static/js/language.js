/* The language switch of the bar and of the sign-in screen. */
import { api, fail } from "./api.js";
import { $, $$ } from "./config.js";

// -- language ------------------------------------------------------------------------
const langBtn = $("#lang-switch");
if (langBtn) {
  langBtn.addEventListener("click", async () => {
    await api("PUT", "/session/language", { lang: langBtn.dataset.lang }).catch(fail);
    location.reload();
  });
}
$$("[data-setlang]").forEach((b) => b.addEventListener("click", async () => {
  await api("PUT", "/session/language", { lang: b.dataset.setlang }).catch(fail);
  location.reload();
}));
