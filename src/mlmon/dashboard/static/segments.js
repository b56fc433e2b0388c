// The "Worst segments" card: segments worse than the rest of their model (the server's rule,
// stated in the note), then each tag's most frequent values with their figures.
"use strict";

const SHOWN_KEYS = 4; // tables of values under the worst segments

function segmentFigure(value, valueOf) {
  if (value === null || value === undefined) return "–";
  return valueOf === "accuracy" ? value.toFixed(3) : value.toPrecision(4);
}

function segmentRow(s, withModel) {
  const model = s.value_of === "accuracy" ? 1 - s.model_error : s.model_error;
  return `<tr data-segment="${escapeHtml(s.key)}=${escapeHtml(s.value)}">` +
    (withModel ? `<td>${escapeHtml(s.model)}</td><td>${escapeHtml(s.key)}=${escapeHtml(s.value)}</td>` : `<td>${escapeHtml(s.value)}</td>`) +
    `<td>${integer(s.count)}</td><td>${s.value_of} ${segmentFigure(s.figure, s.value_of)}</td>` +
    `<td class="muted">[${segmentFigure(s.low, s.value_of)}, ${segmentFigure(s.high, s.value_of)}]</td>` +
    (withModel ? `<td>${segmentFigure(model, s.value_of)}</td>` : "") +
    `<td>${s.worse_by === null ? "–" : (s.worse_by >= 0 ? "+" : "") + (100 * s.worse_by).toFixed(0) + " %"}</td></tr>`;
}

function drawSegments(snapshot) {
  const view = snapshot.segments || { worst: [], keys: [] };
  const card = document.getElementById("segments-card");
  card.hidden = !(view.keys || []).length;
  if (card.hidden) return;
  document.getElementById("segments-note").textContent =
    `${view.tested} segments of ≥ ${view.min_rows} rows tested against the rest of their model ` +
    `(one-sided, Bonferroni at ${view.alpha} per model); 95 % intervals`;
  const body = document.querySelector("#worst-segments-table tbody");
  body.innerHTML = view.worst.length
    ? view.worst.map((s) => segmentRow(s, true)).join("")
    : `<tr><td colspan="7" class="muted" id="no-worst-segment">No segment is worse than its model.</td></tr>`;
  document.getElementById("segment-values").innerHTML = view.keys.slice(0, SHOWN_KEYS)
    .map((k) => `<table class="compact"><thead><tr><th>${escapeHtml(k.model)} · ${escapeHtml(k.key)}</th>` +
      `<th>rows</th><th>figure</th><th>interval</th><th>vs model</th></tr></thead>` +
      `<tbody>${k.values.map((s) => segmentRow(s, false)).join("")}</tbody></table>`)
    .join("");
}
