// Follows a letter on its page (/brev/{id}, desk/templates/brev_visa.html): asks
// /brev/{id}/status every two seconds until the letter reaches a final state, and updates its
// state, channel and reason (an aria-live region) and appends new events to the timeline.
// The page works without it; it is a file because the Content-Security-Policy allows no
// inline script.
(function () {
  "use strict";

  var FAST_MS = 2000;
  // A letter waiting for the print room may wait for hours: ask less often after a while.
  var SLOW_MS = 15000;
  var SLOW_AFTER_MS = 5 * 60 * 1000;
  var COLUMNS = ["at", "state", "reason", "detail", "actor"];

  var section = document.getElementById("brev-status");
  var timeline = document.getElementById("handelser");
  if (!section || !timeline || section.dataset.final === "true") {
    return;
  }
  var url = section.dataset.statusUrl;
  var started = Date.now();
  var shownEvents = timeline.querySelectorAll("tr").length;

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  }

  function appendStep(step) {
    var row = document.createElement("tr");
    COLUMNS.forEach(function (key, index) {
      var cell = document.createElement("td");
      cell.className = index === 0 ? "text nowrap" : "text";
      cell.textContent = step[key];
      row.appendChild(cell);
    });
    timeline.appendChild(row);
  }

  function apply(status) {
    setText("lage", status.state_text);
    setText("kanal", status.channel_text);
    setText("skal", status.reason_text);
    setText("operator", status.operator);
    setText("andrat", status.updated);
    // Events are only ever appended, so the ones not shown yet are at the end.
    for (var index = shownEvents; index < status.events.length; index += 1) {
      appendStep(status.events[index]);
    }
    shownEvents = Math.max(shownEvents, status.events.length);
    var cancel = document.getElementById("makulera");
    if (cancel && !status.cancellable) {
      cancel.remove();
    }
    if (status.final) {
      section.dataset.final = "true";
      setText("foljs", "Brevet har nått sitt slutläge.");
    }
  }

  function schedule() {
    var wait = Date.now() - started > SLOW_AFTER_MS ? SLOW_MS : FAST_MS;
    window.setTimeout(poll, wait);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (answer.status >= 400 && answer.status < 500) {
          // Logged out, or the letter is gone from view: asking again will not help.
          setText("foljs", "Sidan följer inte längre brevet; ladda om sidan för att se läget.");
          return null;
        }
        if (!answer.ok) {
          throw new Error("status " + answer.status);
        }
        return answer.json();
      })
      .then(function (status) {
        if (status === null) {
          return;
        }
        apply(status);
        if (!status.final) {
          schedule();
        }
      })
      .catch(function () {
        schedule(); // the server is restarting or the network hiccuped: try again
      });
  }

  schedule();
})();
