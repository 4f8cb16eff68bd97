/* Dialogs on a touchscreen. */

/* A dialog acts only on clicks whose finger went down on the dialog itself after it
 * opened: the click of a tap that began elsewhere (on the thumbnail that opened it) is
 * ignored, whatever the browser's order of touch, pointer and click events. */
export function armOnOwnTouch(dialog) {
  dialog.armed = false;
  new MutationObserver(() => { if (dialog.hidden) dialog.armed = false; })
    .observe(dialog, { attributes: true, attributeFilter: ["hidden"] });
  dialog.addEventListener("pointerdown", () => { dialog.armed = !dialog.hidden; });
}
