// The magnifier loupe: the pixels around the cursor at 10x (with the mask overlay), next to the cursor.
export function drawLoupe(loupe, stage, pos) {
  const ctx = loupe.getContext("2d");
  const zoom = 10;
  const n = loupe.width / zoom;
  const x0 = Math.round(pos.x) - Math.floor(n / 2);
  const y0 = Math.round(pos.y) - Math.floor(n / 2);
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, loupe.width, loupe.height);
  if (stage.imageCanvas) ctx.drawImage(stage.imageCanvas, x0, y0, n, n, 0, 0, loupe.width, loupe.height);
  ctx.strokeStyle = "#ff0";
  ctx.strokeRect((Math.round(pos.x) - x0) * zoom, (Math.round(pos.y) - y0) * zoom, zoom, zoom);
  loupe.style.left = `${pos.sx + 24}px`;
  loupe.style.top = `${pos.sy + 24}px`;
}
