// AIR pages: optional progressive enhancement, no build step. Without it
// every page still works; the server refuses a bulk decision of mixed types.
//
// Pending actions: checking an action disables the actions of other types,
// and "all" checks every action of the first checked type. The incident
// queue: "all" checks every incident on the page.
(function () {
  "use strict";
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input[type=checkbox][name=id]'));
  var all = document.getElementById("all");
  var label = document.getElementById("selected");
  if (!boxes.length) { return; }
  var typed = boxes.some(function (b) { return b.dataset.type; });
  var idle = label ? label.textContent : "";

  function update() {
    var checked = boxes.filter(function (b) { return b.checked; });
    var type = typed && checked.length ? checked[0].dataset.type : "";
    boxes.forEach(function (b) {
      b.disabled = type !== "" && b.dataset.type !== type;
      b.closest("tr").classList.toggle("selected", b.checked);
    });
    if (label) {
      label.textContent = !checked.length ? idle
        : typed ? checked.length + " selected (" + type + ")"
        : checked.length + (checked.length === 1 ? " incident" : " incidents") + " selected";
    }
    if (all) { all.checked = checked.length > 0 && boxes.every(function (b) { return b.checked || b.disabled; }); }
  }

  boxes.forEach(function (b) { b.addEventListener("change", update); });
  if (all) {
    all.addEventListener("change", function () {
      var first = boxes.filter(function (b) { return b.checked; })[0] || boxes[0];
      boxes.forEach(function (b) { b.checked = all.checked && (!typed || b.dataset.type === first.dataset.type); });
      update();
    });
  }
  update();
})();
