// Light or dark, as the Airflow UI around the page shows it. Loaded before the page is drawn, so it
// never flashes the other mode. The UI (next-themes) marks its <html> with the class "light" or "dark"
// and keeps the user's choice in localStorage "theme" ("light", "dark" or "system"); the page shares
// the UI's origin, so it reads both. Opened alone it follows the stored choice, else the system's.
"use strict";

(() => {
  const media = window.matchMedia("(prefers-color-scheme: dark)");

  function uiRoot() {
    try {
      return window.parent !== window ? window.parent.document.documentElement : null;
    } catch (error) {
      return null; // not the UI's origin: the stored choice and the system decide
    }
  }

  function chosenMode() {
    const root = uiRoot();
    if (root?.classList.contains("dark")) return "dark";
    if (root?.classList.contains("light")) return "light";
    let stored = null;
    try {
      stored = window.localStorage.getItem("theme");
    } catch (error) {
      /* storage blocked: the system decides */
    }
    if (stored === "dark" || stored === "light") return stored;
    return media.matches ? "dark" : "light";
  }

  function apply() {
    document.documentElement.dataset.theme = chosenMode();
  }

  apply();
  media.addEventListener("change", apply);
  // the UI's switch writes localStorage in the parent window: other windows of the origin hear it
  window.addEventListener("storage", (event) => {
    if (event.key === null || event.key === "theme") apply();
  });
  const root = uiRoot();
  if (root) new MutationObserver(apply).observe(root, { attributes: true, attributeFilter: ["class"] });
})();
