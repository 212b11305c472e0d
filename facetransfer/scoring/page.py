"""The review page of ``facetransfer serve``: one self-contained HTML document (no external assets)."""

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
  .overlay { max-width: 100%; margin-top: .5rem; }
  table.regions { border-collapse: collapse; font-size: .85rem; margin-top: .4rem; }
  table.regions td { padding: .1rem .6rem; border-bottom: 1px solid #eee; }
</style>
</head>
<body>
<h1>facetransfer: is this face generated?</h1>
<div id="model">loading model...</div>
<div id="drop">
  <p>Drop images here, or <label><u>choose files</u>
  <input id="files" type="file" accept="image/png,image/jpeg,image/webp" multiple hidden></label></p>
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
function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
function render(result) {
  const card = document.createElement("div");
  card.className = "result";
  card.dataset.name = result.name;
  const title = document.createElement("h2");
  title.textContent = result.name;
  card.appendChild(title);
  if (result.error) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = result.error;
    card.appendChild(p);
    return card;
  }
  const line = document.createElement("p");
  line.innerHTML = `fake probability <span class="score"></span> &rarr; <span class="decision"></span>` +
    ` (threshold <span class="threshold"></span>, model <span class="version"></span>)`;
  line.querySelector(".score").textContent = result.fake_probability.toFixed(6);
  const decision = line.querySelector(".decision");
  decision.textContent = result.prediction;
  decision.classList.add(result.prediction);
  line.querySelector(".threshold").textContent = result.threshold.toFixed(4);
  line.querySelector(".version").textContent = result.model_version;
  card.appendChild(line);
  if (result.explanation_png) {
    const img = document.createElement("img");
    img.className = "overlay";
    img.alt = "region explanation of " + result.name;
    img.src = "data:image/png;base64," + result.explanation_png;
    card.appendChild(img);
    const table = document.createElement("table");
    table.className = "regions";
    for (const [region, value] of Object.entries(result.regions)) {
      const tr = document.createElement("tr");
      tr.appendChild(cell(region));
      tr.appendChild(cell((value >= 0 ? "+" : "") + value.toFixed(4)));
      table.appendChild(tr);
    }
    card.appendChild(table);
  }
  return card;
}
async function score(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const explain = document.getElementById("explain").checked;
  statusLine.textContent = `scoring ${files.length} image(s)...`;
  const response = await fetch(`api/score?explain=${explain}`, { method: "POST", body: form });
  const body = await response.json();
  if (!response.ok) { statusLine.textContent = `refused: ${body.detail}`; return; }
  statusLine.textContent = `scored ${body.results.length} image(s) with ${body.model_version}`;
  for (const result of body.results) results.prepend(render(result));
}
const drop = document.getElementById("drop");
document.getElementById("files").addEventListener("change", e => score(e.target.files));
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => {
  e.preventDefault(); drop.classList.remove("over"); score(e.dataTransfer.files);
});
</script>
</body>
</html>
"""
