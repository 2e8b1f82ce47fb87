// Starts Swagger UI on /docs. Kept out of the page so that the page needs no inline script
// (the Content-Security-Policy allows scripts from this app's own files only).
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = meta ? meta.getAttribute("content") : "";

  // "Try it out" as a logged-in person: a state-changing call carries the CSRF token, as the
  // pages' forms do. Only to this app: the token never goes to another site.
  function withCsrfToken(request) {
    var target = new URL(request.url, window.location.href);
    if (csrfToken && target.origin === window.location.origin) {
      request.headers["X-CSRF-Token"] = csrfToken;
    }
    return request;
  }

  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    requestInterceptor: withCsrfToken,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
