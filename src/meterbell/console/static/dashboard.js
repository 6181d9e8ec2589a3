// Draws the dashboard's delivery charts with uPlot from the JSON the page embeds
// (<script type="application/json" id="deliveries-hour">); the table beside stays for
// readers without JavaScript or a screen.
(function () {
  function draw(figure) {
    const data = JSON.parse(document.getElementById(figure.dataset.chart).textContent);
    const width = Math.max(280, Math.min(figure.clientWidth || 600, 900));
    new uPlot({
      width: width,
      height: 200,
      series: [
        {},
        { label: "Succeeded", stroke: "#1a7f37", fill: "rgba(26,127,55,0.1)" },
        { label: "Failed", stroke: "#cf222e", fill: "rgba(207,34,46,0.1)" },
      ],
      axes: [{}, { label: "per minute" }],
    }, data, figure.querySelector(".chart"));
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("figure[data-chart]").forEach(draw);
  });
})();
