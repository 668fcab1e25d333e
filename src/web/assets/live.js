// Live parts (sync progress, revocation progress): re-fetch the fragment named by data-live-url
// every two seconds until it says it is done. Without this script the page's Refresh link works.
(() => {
  for (const el of document.querySelectorAll('[data-live-url]')) {
    const tick = async () => {
      if (el.dataset.liveDone === 'true') return;
      try {
        const res = await fetch(el.dataset.liveUrl, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
        if (res.ok) {
          const holder = document.createElement('div');
          holder.innerHTML = await res.text();
          const next = holder.firstElementChild;
          if (next) {
            el.innerHTML = next.innerHTML;
            el.dataset.liveDone = next.dataset.liveDone ?? 'false';
          }
        }
      } catch {
        // A failed poll is retried at the next tick.
      }
      if (el.dataset.liveDone !== 'true') setTimeout(tick, 2000);
    };
    setTimeout(tick, 1000);
  }
  // Copy buttons (feed URLs shown once).
  for (const button of document.querySelectorAll('[data-copy]')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      const input = document.getElementById(button.dataset.copy);
      if (!input) return;
      await navigator.clipboard.writeText(input.value).catch(() => input.select());
      button.textContent = 'Copied';
    });
  }
})();
