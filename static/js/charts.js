/* Draws every <canvas data-chart-source="ID"> from the {labels, values} JSON in
   <script id="ID" type="application/json"> (Django's json_script). No inline script, so a
   strict Content-Security-Policy can be turned on. */
(function () {
  "use strict";

  var ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
  var dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });

  function label(value) {
    return ISO_DAY.test(value) ? dayFormat.format(new Date(value + "T00:00:00Z")) : value;
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chartSource);
    if (!source || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var style = getComputedStyle(document.documentElement);
    var accent = style.getPropertyValue("--accent").trim() || "#1f5fbf";
    var muted = style.getPropertyValue("--text-muted").trim() || "#5b6778";
    new Chart(canvas, {
      type: canvas.dataset.chartType || "bar",
      data: {
        labels: data.labels.map(label),
        datasets: [
          {
            label: canvas.dataset.chartLabel || "",
            data: data.values,
            backgroundColor: accent,
            borderColor: accent,
            borderRadius: 3,
            maxBarThickness: 28,
          },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { grid: { display: false }, ticks: { color: muted, maxRotation: 0, autoSkipPadding: 12 } },
          y: { beginAtZero: true, ticks: { color: muted, precision: 0 } },
        },
      },
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart-source]").forEach(draw);
  });
})();
