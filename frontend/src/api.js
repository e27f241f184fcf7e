// The only module that talks to the backend: JSON over /api/v1/ with the CSRF token, errors as {message, extra}.
const BASE = "/api/v1";

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** A 409 that names warnings the reviewer must acknowledge (point_outside) before confirming. */
export function needsAcknowledgement(error) {
  return error instanceof ApiError && error.status === 409 && Array.isArray(error.extra.needs_acknowledgement)
    ? error.extra.needs_acknowledgement
    : null;
}

export class ApiError extends Error {
  constructor(status, message, extra) {
    super(message);
    this.status = status;
    this.extra = extra || {};
  }
}

function messageOf(data, fallback) {
  if (data && typeof data.message === "string") return data.message;
  if (data && data.detail) return String(data.detail);
  return fallback;
}

export async function request(method, path, body) {
  const headers = { "X-CSRFToken": csrfToken(), Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const url = path.startsWith("http") || path.startsWith(BASE) ? path : `${BASE}${path}`;
  const response = await fetch(url, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, messageOf(data, response.statusText), data.extra);
  return data;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, item);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Raw pixels at full bit depth: {width, height, dtype, data: Uint8Array | Uint16Array}. */
async function pixels(imageId) {
  const response = await fetch(`${BASE}/images/${imageId}/pixels/`, {
    credentials: "same-origin",
    headers: { Accept: "application/octet-stream" },
  });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new ApiError(response.status, messageOf(data, response.statusText), data.extra);
  }
  const width = Number(response.headers.get("X-Image-Width"));
  const height = Number(response.headers.get("X-Image-Height"));
  const dtype = response.headers.get("X-Image-Dtype");
  const buffer = await response.arrayBuffer();
  const data = dtype === "uint16" ? new Uint16Array(buffer) : new Uint8Array(buffer);
  return { width, height, dtype, data };
}

/** One file per request so each gets its own progress bar and its own error. */
function uploadFile(projectId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${BASE}/projects/${projectId}/images/`);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onerror = () => reject(new ApiError(0, `Network error while uploading ${file.name}`));
    xhr.onload = () => {
      let data = {};
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = {};
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, messageOf(data, xhr.statusText), data.extra));
    };
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}

const WAIT = 3; // seconds the server may hold a target change to answer with the new masks

export const api = {
  me: () => request("GET", "/me/"),
  projects: () => request("GET", "/projects/"),
  project: (id) => request("GET", `/projects/${id}/`),
  projectUpdate: (id, body) => request("PATCH", `/projects/${id}/`, body),
  rank: (projectId) => request("POST", `/projects/${projectId}/rank/`, {}),
  projectCreate: (body) => request("POST", "/projects/", body),
  stats: (id) => request("GET", `/projects/${id}/stats/`),
  quality: (id) => request("GET", `/projects/${id}/quality/`),
  qa: (id) => request("GET", `/projects/${id}/qa/`),
  double: (imageId) => request("GET", `/images/${imageId}/double/`),
  images: (projectId, filters) => request("GET", `/projects/${projectId}/images/${query(filters)}`),
  page: (url) => request("GET", url),
  claim: (projectId) => request("POST", `/projects/${projectId}/images/claim/`),
  image: (id) => request("GET", `/images/${id}/`),
  pixels,
  thumbnailUrl: (id) => `${BASE}/images/${id}/pixels/?format=png`,
  uploadFile,
  targets: (imageId) => request("GET", `/images/${imageId}/targets/`),
  masks: (imageId) => request("GET", `/images/${imageId}/masks/`),
  gallery: (projectId, filters) => request("GET", `/projects/${projectId}/gallery/${query(filters)}`),
  targetAdd: (imageId, body) => request("POST", `/images/${imageId}/targets/?wait=${WAIT}`, body),
  targetMove: (id, body) => request("PATCH", `/targets/${id}/?wait=${WAIT}`, body),
  targetDelete: (id, version) => request("DELETE", `/targets/${id}/`, version ? { version } : undefined),
  generation: (imageId, wait = WAIT) => request("GET", `/images/${imageId}/generation/?wait=${wait}`),
  maskSave: (targetId, version, rle) => request("PUT", `/targets/${targetId}/mask/`, { version, rle }),
  maskConfirm: (targetId, version, acknowledge) =>
    request("POST", `/targets/${targetId}/mask/confirm/`, { version, ...(acknowledge ? { acknowledge } : {}) }),
  maskReject: (targetId, version, comment) =>
    request("POST", `/targets/${targetId}/mask/reject/`, { version, comment: comment || "" }),
  submit: (imageId, version) => request("POST", `/images/${imageId}/submit/`, { version }),
  confirm: (imageId, version, acknowledge) =>
    request("POST", `/images/${imageId}/confirm/`, { version, ...(acknowledge ? { acknowledge } : {}) }),
  reject: (imageId, version, comment) => request("POST", `/images/${imageId}/reject/`, { version, comment }),
  jobs: (projectId, filters) => request("GET", `/projects/${projectId}/jobs/${query(filters)}`),
  job: (id) => request("GET", `/jobs/${id}/`),
  jobCancel: (id) => request("POST", `/jobs/${id}/cancel/`),
  exportStart: (projectId, body) => request("POST", `/projects/${projectId}/exports/`, body),
  exportDownloadUrl: (jobId) => `${BASE}/jobs/${jobId}/download/`,
  prelabel: (projectId) => request("POST", `/projects/${projectId}/prelabel/`, {}),
  suggestions: (imageId) => request("GET", `/images/${imageId}/suggestions/`),
  suggestionsDetect: (imageId) => request("POST", `/images/${imageId}/suggestions/detect/`),
  suggestionsAcceptAll: (imageId) => request("POST", `/images/${imageId}/suggestions/accept/`),
  carry: (imageId) => request("POST", `/images/${imageId}/suggestions/carry/`),
  suggestionAccept: (id) => request("POST", `/suggestions/${id}/accept/`),
  suggestionReject: (id) => request("POST", `/suggestions/${id}/reject/`),
  projectSuggest: (projectId) => request("POST", `/projects/${projectId}/suggestions/detect/`, {}),
  train: (projectId) => request("POST", `/projects/${projectId}/model-versions/train/`),
  modelPromote: (id) => request("POST", `/model-versions/${id}/promote/`),
  modelRetire: (id) => request("POST", `/model-versions/${id}/retire/`),
  modelVersions: (projectId) => request("GET", `/projects/${projectId}/model-versions/`),
  members: (projectId) => request("GET", `/projects/${projectId}/members/`),
  memberAdd: (projectId, username, role) => request("POST", `/projects/${projectId}/members/`, { username, role }),
  memberRole: (projectId, id, role) => request("PATCH", `/projects/${projectId}/members/${id}/`, { role }),
  memberRemove: (projectId, id) => request("DELETE", `/projects/${projectId}/members/${id}/`),
  users: (filters) => request("GET", `/users/${query(filters)}`),
  invite: (projectId, body) => request("POST", `/projects/${projectId}/invitations/`, body),
  userPasswordReset: (id) => request("POST", `/users/${id}/password-reset/`),
  userSetActive: (id, isActive) => request("PATCH", `/users/${id}/`, { is_active: isActive }),
};
