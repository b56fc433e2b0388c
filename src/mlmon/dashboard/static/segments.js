// The "Worst segments" card: segments worse than the rest of their model (the server's rule,
// stated in the note), then each tag's most frequent values with their figures.
"use strict";

const SHOWN_KEYS = 6; // tables of values under the worst segments

function segmentFigure(value, valueOf) {
  if (value === null || value === undefined) return "–";
  return valueOf === "accuracy" ? value.toFixed(3) : value.toPrecision(4);
}

function segmentCells(s, label = "") {
  return `<td>${integer(s.count)}</td><td>${label}${segmentFigure(s.figure, s.value_of)}</td>` +
    `<td class="muted interval">[${segmentFigure(s.low, s.value_of)}, ${segmentFigure(s.high, s.value_of)}]</td>`;
}

// MAE: relative to the model's (+100 % is twice); accuracy: points below or above the model's.
function worseBy(s) {
  if (s.value_of === "accuracy") {
    const points = 100 * (s.figure - (1 - s.model_error));
    return `${points >= 0 ? "+" : ""}${points.toFixed(1)} pt`;
  }
  return s.worse_by === null ? "–" : `${s.worse_by >= 0 ? "+" : ""}${(100 * s.worse_by).toFixed(0)} %`;
}

function worstRow(s) {
  const model = s.value_of === "accuracy" ? 1 - s.model_error : s.model_error;
  return `<tr class="drifted" data-segment="${escapeHtml(s.key)}=${escapeHtml(s.value)}">` +
    `<td>${escapeHtml(s.model)}</td><td class="segment">${escapeHtml(s.key)}=${escapeHtml(s.value)}</td>` +
    `${segmentCells(s, `${s.value_of} `)}<td>${s.value_of} ${segmentFigure(model, s.value_of)}</td><td>${worseBy(s)}</td></tr>`;
}

function keyTable(k) {
  const figure = (k.values[0] || {}).value_of === "accuracy" ? "accuracy" : "MAE";
  return `<table class="compact" data-key="${escapeHtml(k.key)}"><thead><tr>` +
    `<th>${escapeHtml(k.key)} <span class="muted">${escapeHtml(k.model)}</span></th>` +
    `<th>rows</th><th>${figure}</th><th>95 % interval</th><th>vs model</th></tr></thead><tbody>` +
    k.values.map((s) => `<tr><td>${escapeHtml(s.value)}</td>${segmentCells(s)}<td>${worseBy(s)}</td></tr>`).join("") +
    "</tbody></table>";
}

function drawSegments(snapshot) {
  const view = snapshot.segments || { worst: [], keys: [] };
  const card = document.getElementById("segments-card");
  card.hidden = !(view.keys || []).length;
  if (card.hidden) return;
  document.getElementById("segments-note").textContent =
    `${view.tested} segments of ≥ ${view.min_rows} rows tested against the rest of their model ` +
    `(one-sided, Bonferroni at ${view.alpha} per model)`;
  const body = document.querySelector("#worst-segments-table tbody");
  body.innerHTML = view.worst.length
    ? view.worst.map(worstRow).join("") + (view.listed > view.worst.length ? `<tr><td colspan="7" class="muted">… ${view.listed - view.worst.length} more</td></tr>` : "")
    : `<tr><td colspan="7" class="muted" id="no-worst-segment">No segment is worse than its model.</td></tr>`;
  document.getElementById("segment-values").innerHTML = view.keys.slice(0, SHOWN_KEYS).map(keyTable).join("");
}
