// Swagger UI over this mini program's own OpenAPI document (the URL is on the element: no inline script).
window.addEventListener("load", function () {
  var element = document.getElementById("docs");
  window.ui = SwaggerUIBundle({ url: element.dataset.spec, domNode: element, deepLinking: true });
});
