"""The review page of ``facetransfer serve``: one self-contained HTML document (no external assets).

Results are listed in upload order: each chosen file gets its card, with the uploaded picture
(an object URL of the file, so it shows with or without an explanation), the moment it is
chosen; the answer fills that card in, whichever request finishes first. Region contributions
are written with three decimals, an effect under 0.0005 as ``0.000``, as in the figures. Each face
found in a picture is outlined on it (an SVG layer in the picture's own pixel coordinates) with its
index and score, red when it is called fake; its section below holds its score and the region
overlay of its aligned crop. A picture in which no face was found says so.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>facetransfer review</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  #model { color: #555; margin-bottom: 1rem; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 2rem; text-align: center; }
  #drop.over { background: #eef6ff; border-color: #3a7bd5; }
  #status { margin: .8rem 0; color: #555; min-height: 1.2rem; }
  .result { border: 1px solid #ddd; border-radius: 8px; padding: .8rem; margin: .8rem 0; }
  .result h2 { font-size: 1rem; margin: 0 0 .4rem; }
  .decision { font-weight: bold; padding: .1rem .5rem; border-radius: 4px; }
  .decision.fake { background: #fde2e1; color: #a61b1b; }
  .decision.real { background: #e1f5e3; color: #1b6e2a; }
  .error { color: #a61b1b; }
  .pending { color: #555; }
  .face h3 { font-size: .95rem; margin: .6rem 0 .2rem; }
  .frame { position: relative; display: inline-block; margin: .4rem 0; }
  .upload { max-height: 24rem; max-width: 100%; display: block; border-radius: 4px; }
  .frame svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
  .frame rect { fill: none; stroke-width: 3; vector-effect: non-scaling-stroke; }
  .frame rect.fake { stroke: #d62728; } .frame rect.real { stroke: #2ca02c; }
  .frame text { font-family: system-ui, sans-serif; font-weight: bold; paint-order: stroke; stroke: #fff; }
  .noface { color: #555; font-style: italic; }
  .overlay { max-width: 100%; margin-top: .5rem; }
  table.regions { border-collapse: collapse; font-size: .9rem; margin-top: .4rem; }
  table.regions th { text-align: left; font-weight: normal; color: #555; padding: .1rem .6rem; }
  table.regions td { padding: .1rem .6rem; border-bottom: 1px solid #eee; }
  table.regions td.value { text-align: right; font-family: ui-monospace, monospace; }
  table.regions td.negligible { color: #999; }
</style>
</head>
<body>
<h1>facetransfer: is this face generated?</h1>
<div id="model">loading model...</div>
<div id="drop">
  <p>Drop images here, or <label><u>choose files</u>
  <input id="files" type="file" multiple hidden
    accept="image/png,image/jpeg,image/webp,video/mp4,video/webm,video/quicktime"></label></p>
  <label><input id="explain" type="checkbox" checked> explain by face region</label>
</div>
<div id="status"></div>
<div id="results"></div>
<script>
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
fetch("api/model").then(r => r.json()).then(m => {
  document.getElementById("model").textContent =
    `model ${m.model_version}, threshold ${m.threshold.toFixed(4)}, ` +
    `${m.input_mode} ${m.image_size} px, up to ${m.max_files} files of ` +
    `${(m.max_upload_bytes / 1048576).toFixed(0)} MB`;
});
function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}
// Three decimals, as in the figures; an effect under 0.0005 reads 0.000 (no sign).
function contribution(value) {
  const rounded = Math.round(value * 1000) / 1000;
  return rounded === 0 ? "0.000" : (rounded > 0 ? "+" : "") + rounded.toFixed(3);
}
let uploaded = 0;
// A card per file, added in the order the files were chosen, before any answer comes back:
// the list stays in upload order whatever order the requests finish in.
function placeholder(file) {
  const card = document.createElement("div");
  card.className = "result";
  card.dataset.name = file.name;
  card.dataset.upload = String(uploaded++);
  const title = document.createElement("h2");
  title.textContent = file.name;
  card.appendChild(title);
  const video = file.type.startsWith("video/");
  const picture = document.createElement(video ? "video" : "img");
  picture.className = "upload";
  picture.src = URL.createObjectURL(file);
  if (video) {
    picture.controls = true;
    picture.muted = true;
  } else {
    picture.alt = "uploaded image " + file.name;
    // Decoded once loaded: the object URL can go (it would hold the file until the page closes).
    picture.addEventListener("load", () => URL.revokeObjectURL(picture.src));
  }
  picture.addEventListener("error", () => { picture.hidden = true; URL.revokeObjectURL(picture.src); });
  const frame = document.createElement("div");
  frame.className = "frame";
  frame.appendChild(picture);
  card.appendChild(frame);
  const pending = document.createElement("p");
  pending.className = "pending";
  pending.textContent = "scoring...";
  card.appendChild(pending);
  return card;
}
function fail(card, message) {
  card.querySelector(".pending")?.remove();
  const p = document.createElement("p");
  p.className = "error";
  p.textContent = message;
  card.appendChild(p);
}
// Outline each face on the uploaded picture, in the picture's pixels (an SVG over the <img>).
const SVG = "http://www.w3.org/2000/svg";
function drawBoxes(card, found) {
  const picture = card.querySelector("img.upload");
  const faces = found.filter(result => Array.isArray(result.box) && !result.error);
  if (!picture || !faces.length) return;
  const draw = () => {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${picture.naturalWidth} ${picture.naturalHeight}`);
    svg.setAttribute("preserveAspectRatio", "none");
    // Labels as large on screen whatever the picture's size (the SVG scales with the <img>).
    const size = Math.max(12, picture.naturalWidth / 36);
    for (const result of faces) {
      const [x, y, width, height] = result.box;
      const rect = document.createElementNS(SVG, "rect");
      for (const [key, value] of Object.entries({ x, y, width, height })) rect.setAttribute(key, value);
      rect.setAttribute("class", `face-box ${result.prediction}`);
      rect.dataset.face = String(result.face_index);
      svg.appendChild(rect);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", x);
      label.setAttribute("y", Math.max(size, y - size / 4));
      label.setAttribute("font-size", size);
      label.setAttribute("stroke-width", size / 5);
      label.setAttribute("fill", result.prediction === "fake" ? "#d62728" : "#2ca02c");
      label.textContent = `face ${result.face_index}: ${result.fake_probability.toFixed(3)}`;
      svg.appendChild(label);
    }
    card.querySelector(".frame").appendChild(svg);
  };
  if (picture.complete && picture.naturalWidth) draw(); else picture.addEventListener("load", draw);
}
// The results of one upload: one per face found (or one for the upload scored whole).
function fill(card, found) {
  if (!found.length) { fail(card, "no result for this file"); return; }
  card.querySelector(".pending").remove();
  drawBoxes(card, found);
  const first = found[0];
  if (first.face_found === false && !first.error) {
    const note = document.createElement("p");
    note.className = "noface";
    note.textContent = "no face found: the whole " +
      (first.frames ? "video's frames were" : "picture was") + " scored";
    card.appendChild(note);
  }
  if (first.image_prediction && found.length > 1) {
    const verdict = document.createElement("p");
    verdict.innerHTML = `verdict <span class="decision"></span>` +
      ` (highest face score <span class="score"></span>)`;
    verdict.querySelector(".decision").textContent = first.image_prediction;
    verdict.querySelector(".decision").classList.add(first.image_prediction);
    verdict.querySelector(".score").textContent = first.image_fake_probability.toFixed(6);
    card.appendChild(verdict);
  }
  for (const result of found) {
    const section = document.createElement("div");
    section.className = "face";
    card.appendChild(section);
    if (result.face_found && result.face_index !== null && result.face_index !== undefined) {
      const heading = document.createElement("h3");
      heading.textContent = result.frames
        ? `face track ${result.face_index} (${result.frames} frames, mean score)`
        : `face ${result.face_index}`;
      section.appendChild(heading);
    }
    if (result.error) { fail(section, result.error); continue; }
    const line = document.createElement("p");
    line.innerHTML = `fake probability <span class="score"></span> &rarr; <span class="decision"></span>` +
      ` (threshold <span class="threshold"></span>, model <span class="version"></span>)`;
    line.querySelector(".score").textContent = result.fake_probability.toFixed(6);
    const decision = line.querySelector(".decision");
    decision.textContent = result.prediction;
    decision.classList.add(result.prediction);
    line.querySelector(".threshold").textContent = result.threshold.toFixed(4);
    line.querySelector(".version").textContent = result.model_version;
    section.appendChild(line);
    if (result.explanation_png) {
      const img = document.createElement("img");
      img.className = "overlay";
      img.alt = "region explanation of " + result.name;
      img.src = "data:image/png;base64," + result.explanation_png;
      section.appendChild(img);
    }
    if (result.regions) section.appendChild(regionTable(result.regions));
  }
}
function regionTable(regions) {
  const table = document.createElement("table");
  table.className = "regions";
  const head = document.createElement("tr");
  for (const text of ["region", "fake probability lost without it"]) {
    const th = document.createElement("th");
    th.textContent = text;
    head.appendChild(th);
  }
  table.appendChild(head);
  for (const [region, value] of Object.entries(regions)) {
    const tr = document.createElement("tr");
    const shown = contribution(value);
    tr.appendChild(cell(region));
    tr.appendChild(cell(shown, shown === "0.000" ? "value negligible" : "value"));
    table.appendChild(tr);
  }
  return table;
}
async function score(chosen) {
  const files = Array.from(chosen);
  if (!files.length) return;
  const cards = files.map(file => results.appendChild(placeholder(file)));
  cards[0].scrollIntoView({ block: "nearest" });
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const explain = document.getElementById("explain").checked;
  statusLine.textContent = `scoring ${files.length} image(s)...`;
  let response, body;
  try {
    response = await fetch(`api/score?explain=${explain}`, { method: "POST", body: form });
    body = await response.json();
  } catch (error) {
    statusLine.textContent = `no answer from the server: ${error}`;
    for (const card of cards) fail(card, "not scored: no answer from the server");
    return;
  }
  if (!response.ok) {
    statusLine.textContent = `refused: ${body.detail}`;
    for (const card of cards) fail(card, `refused: ${body.detail}`);
    return;
  }
  const faces = body.results.filter(result => result.face_found).length;
  statusLine.textContent = `scored ${files.length} file(s), ${faces} face(s) found, ${body.model_version}`;
  // Each result names the upload it comes from (input_index); rows without it are one per file.
  const perUpload = cards.map(() => []);
  body.results.forEach((result, i) => perUpload[result.input_index ?? i]?.push(result));
  perUpload.forEach((found, i) => fill(cards[i], found));
}
const drop = document.getElementById("drop");
document.getElementById("files").addEventListener("change", e => {
  score(e.target.files);
  e.target.value = "";
});
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => {
  e.preventDefault(); drop.classList.remove("over"); score(e.dataTransfer.files);
});
</script>
</body>
</html>
"""
