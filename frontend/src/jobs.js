// Polls a project's jobs while any is queued or running (backing off when nothing changes) and reports each list.
import { api } from "./api.js";

const ACTIVE = new Set(["queued", "running"]);

export function watchJobs(projectId, kinds, onJobs) {
  let stopped = false;
  let delay = 1000;
  let last = "";
  let timer = 0;
  async function tick() {
    if (stopped) return;
    try {
      const page = await api.jobs(projectId, { page_size: 20, kind: kinds });
      const jobs = page.results;
      const text = JSON.stringify(jobs.map((j) => [j.id, j.status, j.progress]));
      delay = text === last ? Math.min(delay * 1.5, 10000) : 1000;
      last = text;
      onJobs(jobs);
      if (!jobs.some((j) => ACTIVE.has(j.status))) delay = Math.max(delay, 5000);
    } catch {
      delay = Math.min(delay * 2, 15000);
    }
    if (!stopped) timer = setTimeout(tick, delay);
  }
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    poke() {
      clearTimeout(timer);
      delay = 1000;
      tick();
    },
  };
}

export function isActive(job) {
  return ACTIVE.has(job.status);
}
