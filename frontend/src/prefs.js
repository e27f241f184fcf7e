// Per-project display settings (window, invert, colour map, mask style) remembered in localStorage.
const DEFAULTS = { mode: "auto", lo: 0, hi: 255, pLow: 0.5, pHigh: 99.9, invert: false, colormap: "gray", maskMode: "outline", opacity: 0.7 };

export function loadPrefs(projectId) {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(`irlabel.display.${projectId}`) || "{}") };
  } catch {
    return { ...DEFAULTS };
  }
}

export function savePrefs(projectId, prefs) {
  localStorage.setItem(`irlabel.display.${projectId}`, JSON.stringify(prefs));
}
