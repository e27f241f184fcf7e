// The labeler's image panel: what the image is, and its workflow (submit, confirm or reject it, go to the next one).
import { api, needsAcknowledgement } from "../api.js";
import { $, escapeHtml, rejectionNote } from "../dom.js";
import { statusBadge } from "./statusBadge.js";
import { uncertaintyNote } from "./uncertainty.js";

/** Wire the panel; returns { render, run(act) }. `ownWork()` is the project's "reviewer != annotator" rule for this
 * image; `acknowledge(message)` asks the reviewer to confirm a mask that misses its point; `leave(next, claimed)`
 * opens the next image (`claimed`: the image "next" just claimed, so opening it needs no second fetch). */
export function workflowPanel(root, { image, project, session, canAnnotate, canReview, ownWork, acknowledge, leave }) {
  let firstPassDone = false; // this person just handed in the first of two blind passes: the frame is not theirs now
  function render() {
    const section = $(root, ".workflow");
    const reviewable = canReview && image.status === "submitted";
    const confirm = ownWork()
      ? '<p class="muted rule-note">You annotated this image: another reviewer confirms it (project rule).</p>'
      : '<button data-act="confirm" class="primary">Confirm image</button>';
    section.innerHTML = `<h4>Image</h4>
      ${canAnnotate && !firstPassDone && ["new", "in_progress", "rejected"].includes(image.status) ? '<button data-act="submit" class="primary" title="Ctrl+Enter">Submit image</button>' : ""}
      ${canAnnotate ? '<button data-act="next" title="N">Next image ▶</button>' : ""}
      ${canReview ? '<button data-act="next-review" title="The next submitted image">Next to review ▶</button>' : ""}
      ${reviewable ? `<div class="review"><textarea name="comment" placeholder="Comment for the annotator (on reject)"></textarea>
        ${confirm}<button data-act="reject-image">Reject image</button></div>` : ""}`;
    $(root, ".image-info").innerHTML = `<nav class="crumbs"><a href="#/p/${project.id}">${escapeHtml(project.name)}</a> ›
      <a href="#/p/${project.id}/images">Images</a></nav><h3 title="${escapeHtml(image.original_name)}">${escapeHtml(image.original_name)}</h3>
      <p>${image.width}×${image.height} · ${image.bit_depth}-bit · ${statusBadge(image.status)}</p>
      ${image.status !== "confirmed" ? rejectionNote(image.last_rejection) : ""}${uncertaintyNote(image)}`;
  }

  /** Confirm the image, asking the reviewer about masks that miss their point; false when they said no. */
  async function confirmImage() {
    try {
      Object.assign(image, await api.confirm(image.id, image.version));
    } catch (error) {
      const warnings = needsAcknowledgement(error);
      if (!warnings) throw error;
      if (!acknowledge(error.message)) {
        session.say("Not confirmed: a mask still misses its own point.");
        return false;
      }
      Object.assign(image, await api.confirm(image.id, image.version, warnings));
    }
    session.say("Image confirmed.");
    return true;
  }

  async function run(act) {
    try {
      if (act === "submit") {
        if (session.dirtyMasks().length) await session.saveMasks();
        await session.idle();
        if (session.dirtyMasks().length) return;
        Object.assign(image, await api.submit(image.id));
        // A frame labelled twice (settings.qa.double_share): this was the first pass, kept aside for the reviewer.
        firstPassDone = image.double === "second_pass";
        session.say(firstPassDone ? "Submitted as the first of two blind passes: another annotator labels this frame next." : "Submitted for review.");
      } else if (act === "confirm") {
        if (!(await confirmImage())) return;
      } else if (act === "reject-image") {
        const comment = $(root, "[name=comment]").value;
        Object.assign(image, await api.reject(image.id, image.version, comment));
        session.say("Image rejected and sent back.");
      } else if (act === "next-review") {
        const page = await api.images(project.id, { status: "submitted", page_size: 2 });
        const nextImage = page.results.find((candidate) => candidate.id !== image.id);
        if (!nextImage) return session.say("The review queue is empty.");
        return leave(nextImage, null);
      } else if (act === "next") {
        await session.idle();
        const nextImage = await api.claim(project.id);
        if (nextImage.id === image.id) return session.say("This is your unfinished image: submit it first.");
        return leave(nextImage, nextImage);
      }
      render();
      await session.load();
    } catch (error) {
      session.say(error.status === 404 && act === "next" ? "No image is left to label." : error.message);
    }
  }

  return { render, run };
}
