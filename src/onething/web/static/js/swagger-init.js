// Starts Swagger UI at /docs. Kept out of the page so that the Content-Security-Policy needs no inline script.
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
