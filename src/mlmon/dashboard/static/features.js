// Data quality of the features against the drift reference: per feature the share of the
// latest records missing, out of range, of an unseen category, of the wrong type or absent,
// and the schema changes. Loaded after dashboard.js, whose helpers (integer, escapeHtml) it
// uses; dashboard.js's draw() calls drawDataQuality().
"use strict";

const QUALITY_RATES = ["missing_rate", "out_of_range_rate", "unseen_rate", "type_mismatch_rate", "absent_rate"];
// A share worth a look: any record of the wrong type or absent, or 5 % missing or off.
const QUALITY_ALARM = { missing_rate: 0.05, out_of_range_rate: 0.05, unseen_rate: 0.05, type_mismatch_rate: 0, absent_rate: 0 };
const share = (value) => (value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)} %`);

function drawDataQuality(reports) {
  const body = document.querySelector("#data-quality-table tbody");
  const note = document.getElementById("data-quality-note");
  const changes = document.getElementById("schema-changes");
  if (!reports.length || !reports[0].rows) {
    body.innerHTML = `<tr><td class="muted" colspan="6">waiting for the first data quality report…</td></tr>`;
    note.textContent = "";
    changes.textContent = "";
    return;
  }
  // Every model sees the same features: the first report speaks for them.
  const report = reports[0];
  note.textContent = `share of the latest ${integer(report.rows)} records, against the drift reference`;
  body.innerHTML = report.columns
    .map((c) => {
      const cells = QUALITY_RATES.map((rate) => {
        const bad = c[rate] !== null && c[rate] !== undefined && c[rate] > QUALITY_ALARM[rate];
        return `<td class="${rate}${bad ? " drifted" : ""}">${share(c[rate])}</td>`;
      });
      return `<tr data-column="${escapeHtml(c.name)}"><td>${escapeHtml(c.name)} <span class="muted">${escapeHtml(c.kind)}</span></td>${cells.join("")}</tr>`;
    })
    .join("");
  const found = report.schema_changes || [];
  changes.className = found.length ? "note drifted" : "muted note";
  changes.textContent = found.length
    ? `schema changes: ${found.join(", ")} (+ a feature the reference lacks, − absent from some records)`
    : "schema as the reference: no feature appeared or went missing";
}
