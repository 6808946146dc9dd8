// Labels from the keyboard: each input carries its shortcut; Enter submits, ? opens the
// instructions. Keys typed into the note are left alone.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target instanceof HTMLTextAreaElement || event.ctrlKey || event.metaKey || event.altKey) {
    return;
  }
  if (event.key === "?") {
    const details = document.querySelector("details.instructions");
    if (details) details.open = !details.open;
    event.preventDefault();
    return;
  }
  if (event.key === "Enter") {
    document.getElementById("labels")?.requestSubmit();
    event.preventDefault();
    return;
  }
  const input = document.querySelector(`#labels input[data-shortcut="${CSS.escape(event.key)}"]`);
  if (input) {
    input.click();
    event.preventDefault();
  }
});
