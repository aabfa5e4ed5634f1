// techmatch workspace: the only script. It shows the free-text box when "其他" is picked as a reject reason.
document.addEventListener("change", function (ev) {
  var el = ev.target;
  if (el && el.matches && el.matches("select[name=reason]")) {
    var form = el.closest("form");
    var note = form && form.querySelector("input[name=comment]");
    if (note) { note.placeholder = el.value === "other" ? "请说明原因（必填）" : "补充说明（可选）"; }
  }
});
