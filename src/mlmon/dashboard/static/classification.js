// Classifiers on the live page: their table, right/wrong shares, accuracy over time and the
// confusion matrix. Loaded after dashboard.js, whose helpers (colorOf, number, integer,
// escapeHtml, waiting, axisLabel) it uses; dashboard.js's draw() calls drawClassification().
"use strict";

const RIGHT = "#2f8f5b", WRONG = "#c44e52";
const percent = (share, digits = 1) => (share === null || share === undefined ? "–" : `${(100 * share).toFixed(digits)} %`);
const decimals = (value, digits = 3) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));
const WIDE_MATRIX = 8; // classes in a confusion matrix that still fits half the page
let accuracyAxis = "time";
let classColors = 0; // classifiers' colours follow the regression models' (a log with both)
const classColor = (index) => colorOf(classColors + index);

const classCharts = {
  shares: new Chart(document.getElementById("shares"), {
    type: "bar",
    data: { labels: [], datasets: [] },
    options: {
      maintainAspectRatio: false,
      indexAxis: "y",
      scales: {
        x: { stacked: true, min: 0, max: 100, title: { display: true, text: "% of the model's rows" } },
        y: { stacked: true },
      },
      plugins: {
        legend: { labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${integer(item.dataset.rows[item.dataIndex])} rows (${number(item.raw, 1)} %)` } },
      },
    },
  }),
  accuracy: new Chart(document.getElementById("accuracy-over-time"), {
    type: "line",
    data: { datasets: [] },
    options: {
      maintainAspectRatio: false,
      spanGaps: false,
      scales: {
        // A run of a second or two gets ticks between whole seconds: those are left blank,
        // not labelled with the same second again and again.
        x: { type: "linear", ticks: { callback: (v) => (accuracyAxis === "time" && !Number.isInteger(v) ? "" : axisLabel(accuracyAxis, v)) } },
        y: { max: 1, title: { display: true, text: "accuracy" } },
      },
      layout: { padding: { top: 14 } }, // room for the change points' labels
      plugins: {
        legend: { labels: { boxWidth: 12 } },
        markerLines: { markers: [] },
        tooltip: {
          callbacks: {
            title: (items) => axisLabel(accuracyAxis, items[0].parsed.x),
            label: (item) => `${item.dataset.label}: ${percent(item.raw.y, 2)} of ${integer(item.raw.rows)} rows`,
          },
        },
      },
    },
  }),
};

// Best accuracy first; a model without one (no rows) last.
const byAccuracy = (models) => [...models].sort((a, b) => (b.accuracy ?? -1) - (a.accuracy ?? -1));

function drawClassifierTable(models) {
  const body = document.querySelector("#classifiers-table tbody");
  if (!models.length) { // a log started over: no stale rows (MLMON_TASK keeps the card shown)
    body.innerHTML = '<tr><td colspan="7" class="muted">waiting for the first joined rows…</td></tr>';
    document.getElementById("classifiers-note").hidden = true;
    return;
  }
  const colorIndex = new Map(models.map((m, i) => [m.model, i]));
  const ranked = byAccuracy(models);
  body.innerHTML = ranked
    .map((m, rank) => `<tr data-model="${escapeHtml(m.model)}" data-accuracy="${m.accuracy}">
      <td><span class="swatch" style="background:${classColor(colorIndex.get(m.model))}"></span>${escapeHtml(m.model)}${rank === 0 && ranked.length > 1 ? '<span class="best">best</span>' : ""}</td>
      <td>${integer(m.rows)}</td><td class="accuracy">${percent(m.accuracy, 2)}</td><td class="macro-f1">${decimals(m.macro_f1)}</td>
      <td>${decimals(m.log_loss)}</td><td>${decimals(m.brier)}</td><td>${decimals(m.roc_auc_ovr)}</td></tr>`)
    .join("");
  const notes = [];
  const partly = models.filter((m) => m.scored_rows > 0 && m.scored_rows < m.rows);
  if (models.some((m) => m.scored_rows > 0)) {
    notes.push("Log loss, Brier and ROC AUC (one-vs-rest, macro) over the rows with scores" +
      (partly.length ? `: ${partly.map((m) => `${integer(m.scored_rows)} of ${integer(m.rows)} rows (${m.model})`).join(", ")}` : "") + ".");
  }
  if (models.some((m) => !m.scored_rows)) notes.push("– : the model gave no scores.");
  const lumped = models.filter((m) => m.lumped);
  if (lumped.length) notes.push(`Macro F1 approximate for ${lumped.map((m) => m.model).join(", ")}: its rarest classes past the first thousands are counted as one.`);
  const note = document.getElementById("classifiers-note");
  note.hidden = !notes.length;
  note.textContent = notes.join(" ");
}

function drawShares(models) {
  waiting("shares", !models.length);
  const ranked = byAccuracy(models);
  const share = (m, n) => (m.rows ? (100 * n) / m.rows : null);
  classCharts.shares.data = {
    labels: ranked.map((m) => `${m.model} · accuracy ${percent(m.accuracy)}`),
    datasets: [
      { label: "right", data: ranked.map((m) => share(m, m.right)), rows: ranked.map((m) => m.right), backgroundColor: RIGHT + "cc", maxBarThickness: 48 },
      { label: "wrong", data: ranked.map((m) => share(m, m.wrong)), rows: ranked.map((m) => m.wrong), backgroundColor: WRONG + "cc", maxBarThickness: 48 },
    ],
  };
  classCharts.shares.update("none");
}

function drawAccuracyOverTime(series, changes) {
  accuracyAxis = series.axis;
  const width = series.width;
  const empty = !(series.start || []).length;
  waiting("accuracy-over-time", empty);
  document.getElementById("accuracy-over-time-note").textContent = empty
    ? ""
    : series.axis === "time" ? `per ${width} s` : `per ${integer(width)} rows`;
  const radius = (series.start || []).length <= 20 ? 2.5 : 0; // a lone bucket must still show
  // The axis spans the buckets themselves: Chart.js pads a lone point's range to hours.
  const x = classCharts.accuracy.options.scales.x;
  x.min = empty ? undefined : series.start[0];
  x.max = empty ? undefined : series.start[series.start.length - 1] + width;
  classCharts.accuracy.data.datasets = (series.models || []).map((model, i) => ({
    label: model.model,
    data: series.start.map((x, k) => ({ x: x + width / 2, y: model.accuracy[k], rows: model.rows[k] })),
    borderColor: classColor(i), backgroundColor: classColor(i), pointRadius: radius, borderWidth: 2,
  }));
  classCharts.accuracy.options.plugins.markerLines.markers = changeMarkers(series, changes, classColor);
  classCharts.accuracy.update("none");
}

// The model whose matrix is shown: the one picked, else the first classifier (the champion
// when `mlmon up` runs several: it starts first).
function drawConfusion(tables) {
  const picker = document.getElementById("confusion-model");
  const names = tables.map((t) => t.model);
  if ([...picker.options].map((o) => o.value).join("\n") !== names.join("\n")) {
    const picked = picker.value;
    picker.innerHTML = names.map((n) => `<option value="${escapeHtml(n)}">${escapeHtml(n)}</option>`).join("");
    if (names.includes(picked)) picker.value = picked;
  }
  document.getElementById("confusion-picker").hidden = tables.length < 2;
  const table = tables.find((t) => t.model === picker.value) || tables[0];
  const box = document.getElementById("confusion-table");
  const note = document.getElementById("confusion-note");
  if (!table) {
    note.textContent = "";
    box.innerHTML = '<tbody><tr><td class="muted">waiting for the first joined rows…</td></tr></tbody>';
    return;
  }
  const shown = table.labels.length - (table.other ? 1 : 0);
  note.textContent = `${table.model}, all ${integer(table.rows)} rows; rows true, columns predicted` +
    (table.other ? `; the ${shown} classes with most rows of ${integer(table.classes)}${table.lumped ? "+" : ""}, the rest as other` : "");
  const isOther = (k) => table.other && k === table.labels.length - 1;
  const name = (k) => `<span${isOther(k) ? ' class="other"' : ""}>${escapeHtml(table.labels[k])}</span>`;
  const head = `<thead><tr><th class="corner muted">true ╲ predicted</th>${table.labels.map((_, k) => `<th>${name(k)}</th>`).join("")}<th class="total">rows</th></tr></thead>`;
  const rows = table.matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((count, j) => {
      // Shaded by the cell's share of its true label's rows: green on the diagonal (right),
      // red off it (wrong); "other" against "other" is neither.
      const tint = i === j && !isOther(i) ? "47,143,91" : isOther(i) && isOther(j) ? "107,119,133" : "196,78,82";
      const alpha = count && total ? 0.1 + 0.6 * (count / total) : 0;
      const style = alpha ? ` style="background:rgba(${tint},${alpha.toFixed(3)})"` : "";
      return `<td data-true="${escapeHtml(table.labels[i])}" data-pred="${escapeHtml(table.labels[j])}"${style}>${integer(count)}</td>`;
    });
    return `<tr><th class="true-label">${name(i)}</th>${cells.join("")}<td class="total">${integer(total)}</td></tr>`;
  });
  box.innerHTML = `${head}<tbody>${rows.join("")}</tbody>`;
  // Past a few classes the matrix needs the page's width, not half of it.
  document.getElementById("confusion-card").classList.toggle("wide", table.labels.length > WIDE_MATRIX);
}

// Classifier cards replace the regression cards when every model with rows is a classifier
// (or MLMON_TASK=classification says they will be, before the first rows); both kinds show
// side by side when the log holds both.
function drawClassification(snapshot) {
  const classifiers = snapshot.classifiers || [];
  const regression = (snapshot.models || []).length > 0;
  const classifying = classifiers.length > 0 || (snapshot.task === "classification" && !regression);
  for (const id of ["models-card", "histogram-card", "over-time-card", "scatter-card"]) {
    document.getElementById(id).hidden = !(regression || !classifying);
  }
  for (const id of ["classifiers-card", "shares-card", "accuracy-over-time-card", "confusion-card"]) {
    document.getElementById(id).hidden = !classifying;
  }
  if (!classifying) return;
  classColors = (snapshot.models || []).length;
  drawClassifierTable(classifiers);
  drawShares(classifiers);
  drawAccuracyOverTime(snapshot.accuracy_over_time || { models: [], start: [] }, snapshot.change_points);
  drawConfusion(snapshot.confusion || []);
}

document.getElementById("confusion-model").addEventListener("change", () => {
  if (lastSnapshot) drawConfusion(lastSnapshot.confusion || []);
});
