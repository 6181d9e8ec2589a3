// Times arrive in UTC (and stay so without JavaScript); show them in the reader's time zone,
// with the UTC text on hover.
(function () {
  const local = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  function localize(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (time) {
      time.title = time.textContent;
      time.textContent = local.format(new Date(time.getAttribute("datetime")));
      time.dataset.local = "";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:afterSwap", function () { localize(document); });
})();
