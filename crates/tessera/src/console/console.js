// The console's only script, and an optional one: every page works without it.
//
// Upload progress: a `form[data-progress]` is sent in the background, its `<progress>` showing
// how much has gone; a stored file opens its page, a refusal replaces the page's main part with
// the answer's (which says why). Without script the form posts as any form does.
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

function enhanceUploads(root) {
  for (const form of root.querySelectorAll('form[data-progress]')) {
    const bar = form.querySelector('progress');
    const status = form.querySelector('[data-progress-status]');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const request = new XMLHttpRequest();
      request.open('POST', form.action);
      request.upload.addEventListener('progress', (progress) => {
        if (!progress.lengthComputable) return;
        bar.max = progress.total;
        bar.value = progress.loaded;
        status.textContent = `Uploading: ${Math.floor((100 * progress.loaded) / progress.total)} %`;
      });
      request.addEventListener('load', () => {
        if (request.status < 400) {
          location.assign(request.responseURL);
          return;
        }
        const answer = new DOMParser().parseFromString(request.responseText, 'text/html');
        const main = answer.querySelector('main');
        if (!main) {
          status.textContent = `The upload was refused (${request.status}).`;
          return;
        }
        document.querySelector('main').replaceWith(main);
        document.title = answer.title;
        enhanceUploads(main);
      });
      request.addEventListener('error', () => {
        status.textContent = 'The upload failed: the connection was lost. Try again.';
      });
      bar.hidden = false;
      status.textContent = 'Uploading…';
      request.send(new FormData(form));
    });
  }
}
enhanceUploads(document);
