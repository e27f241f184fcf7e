// Image upload: drag and drop or a file picker, one request per file with its own progress bar and error.
import { api } from "../api.js";
import { $, escapeHtml } from "../dom.js";

export function uploadPanel(projectId, onUploaded) {
  const panel = document.createElement("section");
  panel.className = "upload";
  panel.innerHTML = `<h3>Upload images</h3><div class="dropzone" tabindex="0">Drop PNG / TIFF / JPEG / BMP frames here (a multi-page TIFF gives one frame per page)
    or <label class="link">choose files<input type="file" name="files" multiple hidden accept=".png,.tif,.tiff,.jpg,.jpeg,.bmp"></label></div>
    <ul class="upload-list"></ul>`;
  const zone = $(panel, ".dropzone");
  const list = $(panel, ".upload-list");
  async function send(files) {
    let stored = 0;
    await Promise.all(
      [...files].map(async (file) => {
        const item = document.createElement("li");
        item.className = "upload-item";
        item.innerHTML = `<span class="name">${escapeHtml(file.name)}</span><progress max="1" value="0"></progress><span class="result"></span>`;
        list.prepend(item);
        try {
          const answer = await api.uploadFile(projectId, file, (fraction) => {
            $(item, "progress").value = fraction;
          });
          $(item, "progress").value = 1;
          $(item, ".result").textContent = uploadResult(answer);
          item.classList.add("ok");
          stored += (answer.created || []).length;
        } catch (error) {
          $(item, ".result").textContent = error.message;
          item.classList.add("failed");
        }
      }),
    );
    if (stored) onUploaded(stored);
  }
  $(panel, "input[type=file]").addEventListener("change", (event) => send(event.target.files));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    send(event.dataTransfer.files);
  });
  return panel;
}

// "stored", or for a multi-page TIFF how many frames landed and why any page was refused.
function uploadResult(answer) {
  const created = (answer.created || []).length;
  const errors = answer.errors || [];
  let text = created > 1 ? `stored ${created} frames (one per page)` : "stored";
  if (errors.length) text += `; ${errors.length} refused: ${errors[0].message}`;
  return text;
}
