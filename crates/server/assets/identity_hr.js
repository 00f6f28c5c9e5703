// HR upload: copies a chosen file's text into the CSV box. Optional: the box alone
// works without JavaScript, so the file field stays hidden until this script runs.
(function () {
  "use strict";
  const field = document.getElementById("hr-file-field");
  const file = document.getElementById("hr-file");
  const box = document.getElementById("hr-csv");
  if (!field || !file || !box || !window.FileReader) return;
  field.hidden = false;
  file.addEventListener("change", () => {
    const f = file.files && file.files[0];
    if (!f) return;
    const reader = new FileReader();
    reader.onload = () => { box.value = String(reader.result || ""); };
    reader.readAsText(f);
  });
})();
