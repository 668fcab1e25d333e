// Consent screen: refresh the preview when a choice changes. Without this script the
// "Update preview" button does the same by reloading the page.
(() => {
  const form = document.getElementById('consent-form');
  const target = document.getElementById('preview');
  if (!form || !target) return;
  let seq = 0;
  const refresh = async () => {
    const mine = ++seq;
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (k !== '_csrf' && typeof v === 'string') params.append(k, v);
    target.setAttribute('aria-busy', 'true');
    try {
      const res = await fetch(`${form.dataset.previewUrl}?${params}`, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
      if (mine !== seq || !res.ok) return;
      target.innerHTML = await res.text();
    } finally {
      if (mine === seq) target.removeAttribute('aria-busy');
    }
  };
  form.addEventListener('change', refresh);
  const search = document.getElementById('case-search');
  if (search) {
    search.hidden = false;
    search.addEventListener('input', () => {
      const q = search.value.trim().toLowerCase();
      for (const row of document.querySelectorAll('[data-case-label]')) {
        row.hidden = q !== '' && !row.dataset.caseLabel.toLowerCase().includes(q);
      }
    });
  }
})();
