// Moving on without waiting: the image the labeler will most likely open next is fetched ahead (its pixels, the
// slow part), and the view (zoom, centre) is handed on to the next frame when it has the same size.
import { api } from "../api.js";

const AHEAD = 3; // pixel buffers kept at most (a 640x512 16-bit frame is 640 kB)
const ahead = new Map(); // image id -> Promise of pixels
let carried = null; // {imageId, width, height, view}: the view to open `imageId` with

/** The image's pixels: the preloaded ones when there are, else fetched now. */
export function pixelsFor(imageId) {
  const early = ahead.get(imageId);
  ahead.delete(imageId);
  return early ? early.catch(() => api.pixels(imageId)) : api.pixels(imageId);
}

function fetchAhead(imageId) {
  if (!ahead.has(imageId)) {
    const pixels = api.pixels(imageId);
    pixels.catch(() => ahead.delete(imageId));
    ahead.set(imageId, pixels);
    while (ahead.size > AHEAD) ahead.delete(ahead.keys().next().value);
  }
  return ahead.get(imageId);
}

/** The image a claim would hand out next, in the server's order: the caller's own unfinished images first, then
 * unassigned new or in-progress ones, by id (a guess: a claim by someone else may take it first). */
async function nextToLabel(projectId, currentId) {
  const mine = await api.images(projectId, { assigned_to: "me", status: ["new", "in_progress", "rejected"], page_size: 2 });
  const own = mine.results.find((candidate) => candidate.id !== currentId);
  if (own) return own.id;
  const open = await api.images(projectId, { assigned_to: "none", status: ["new", "in_progress"], page_size: 2 });
  const next = open.results.find((candidate) => candidate.id !== currentId);
  return next ? next.id : null;
}

async function nextToReview(projectId, currentId) {
  const page = await api.images(projectId, { status: "submitted", page_size: 2 });
  const next = page.results.find((candidate) => candidate.id !== currentId);
  return next ? next.id : null;
}

/** Fetch the pixels of the images "Next image" and "Next to review" would open; resolves to the ids preloaded. */
export async function preloadNext(projectId, currentId, { annotate, review }) {
  const guesses = await Promise.all([
    annotate ? nextToLabel(projectId, currentId) : null,
    review ? nextToReview(projectId, currentId) : null,
  ]);
  const ids = [...new Set(guesses.filter((id) => id != null))];
  await Promise.all(ids.map(fetchAhead));
  return ids;
}

/** Open `imageId` with this view if it turns out to have the same size (the next frame of a sequence). */
export function carryView(imageId, width, height, view) {
  carried = { imageId, width, height, view: { ...view } };
}

/** The view carried to this image, or null (another image, another size, or not opened by moving on). */
export function takeView(imageId, width, height) {
  const kept = carried;
  carried = null;
  return kept && kept.imageId === imageId && kept.width === width && kept.height === height ? kept.view : null;
}
