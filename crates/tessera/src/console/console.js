// The console's only script, and an optional one: every page works without it.
//
// Copy buttons: a `button[data-copy=ID]` (hidden until this script shows it) copies the value
// of the field ID to the clipboard, or selects it for the keyboard when the clipboard refuses.
for (const button of document.querySelectorAll('button[data-copy]')) {
  const field = document.getElementById(button.dataset.copy);
  if (!field || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = 'Copied';
    } catch {
      field.select();
      button.textContent = 'Press Ctrl+C to copy';
    }
  });
}
