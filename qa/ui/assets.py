"""What the page looks like and does in the browser: fonts, CSS, and the one script (copy, history, scrolling).

No web font or script is fetched: the page must work offline and never wait on the internet.
"""
from __future__ import annotations

import json

from ..messages import EXAMPLES, SCRIPT_TEXT, TITLE  # noqa: F401 (the page's words)

HISTORY_SIZE = 5  # questions of this browser kept in localStorage (never sent anywhere)

FONT = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei",
        "system-ui", "sans-serif"]
FONT_MONO = ["Noto Sans Mono CJK SC", "DejaVu Sans Mono", "monospace"]

CSS = """
.qa-answer, .qa-status, .qa-prompt, .qa-empty { font-size: 16px; line-height: 1.75; }
.qa-notice { border-left: 4px solid #d97706; background: #fffbeb; color: #78350f; padding: 8px 12px;
  margin: 0 0 12px 0; border-radius: 4px; }
.qa-support { border-left: 4px solid #0f766e; background: #f0fdfa; color: #134e4a; padding: 10px 14px;
  margin: 0 0 12px 0; border-radius: 6px; font-size: 17px; }
.qa-error { border-left: 4px solid #dc2626; background: #fef2f2; color: #7f1d1d; padding: 8px 12px;
  border-radius: 4px; white-space: pre-wrap; }
.qa-prompt { color: #4b5563; padding: 8px 2px; }
.qa-status { color: #1e3a8a; background: #eff6ff; border-left: 4px solid #2563eb; padding: 8px 12px;
  border-radius: 4px; }
.qa-status.qa-ok { color: #374151; background: transparent; border: none; padding: 0 2px; font-size: 14px; }
.qa-h { font-size: 17px; font-weight: 600; margin: 4px 0 6px 0; }
.qa-h-row { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
.qa-copy { font-size: 14px; font-weight: 500; color: #1d4ed8; background: #eff6ff; border: 1px solid #bfdbfe;
  border-radius: 6px; padding: 0 14px; min-height: 44px; min-width: 44px; cursor: pointer; }
.qa-copy-text { position: absolute; left: -9999px; width: 1px; height: 1px; opacity: 0; }
.qa-sentences { margin: 0 0 16px 0; padding: 10px 14px; background: #f0fdf4; border-radius: 6px;
  border: 1px solid #bbf7d0; }
.qa-sentences p { margin: 0 0 6px 0; }
.qa-sentences p:last-child { margin-bottom: 0; }
.qa-cite { color: #1d4ed8; font-weight: 600; text-decoration: none; margin-left: 2px; display: inline-flex;
  align-items: center; justify-content: center; min-width: 44px; min-height: 44px; vertical-align: middle; }
.qa-card { border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; margin: 0 0 12px 0;
  background: #ffffff; scroll-margin-top: 8px; }
.qa-card-head { font-weight: 600; font-size: 16px; }
.qa-num { display: inline-block; min-width: 2em; color: #1d4ed8; }
.qa-meta { color: #6b7280; font-size: 13px; margin: 2px 0 6px 0; }
.qa-meta code { font-size: 13px; }
.qa-passage, .qa-context-text { white-space: pre-wrap; word-break: break-word; }
.qa-passage mark, .qa-context-text mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.qa-said { background: #dcfce7; box-shadow: inset 0 -2px 0 #16a34a; }
.qa-context { margin-top: 6px; }
.qa-context summary { cursor: pointer; color: #1d4ed8; font-size: 14px; min-height: 44px; display: flex;
  align-items: center; }
.qa-context-text { color: #4b5563; font-size: 14px; background: #f9fafb; padding: 8px 10px; border-radius: 4px;
  margin-top: 4px; }
.qa-context-text .qa-self { color: #111827; background: #eef2ff; }
.qa-empty { padding: 10px 14px; border: 1px dashed #d1d5db; border-radius: 8px; }
.qa-empty ul { margin: 6px 0 0 1.2em; padding: 0; }
.qa-foot { color: #9ca3af; font-size: 13px; }
.qa-example button, button.qa-example, #qa-ask, .qa-history-item, .qa-history-clear { min-height: 44px; }
#qa-history-list { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 14px; color: #4b5563; }
#qa-history-list:empty { display: none; }
.qa-history-item, .qa-history-clear { border: 1px solid #d1d5db; border-radius: 6px; background: #fff;
  padding: 0 12px; cursor: pointer; font-size: 14px; max-width: 100%; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.qa-history-clear { color: #6b7280; border-style: dashed; }
#qa-script label, #qa-mode label { min-height: 44px; }
#qa-advanced > .label-wrap, #qa-advanced button.label-wrap { min-height: 44px; align-items: center; }
/* the library panel: a table that scrolls sideways on a phone rather than squeezing the file names */
.qa-library-count { color: #4b5563; font-size: 14px; margin: 0 0 6px 0; }
.qa-table-wrap { overflow-x: auto; }
.qa-library-table { border-collapse: collapse; width: 100%; font-size: 14px; line-height: 1.5; }
.qa-library-table th, .qa-library-table td { border-bottom: 1px solid #e5e7eb; padding: 6px 8px; text-align: left;
  vertical-align: top; }
.qa-library-table th { color: #4b5563; font-weight: 600; white-space: nowrap; }
.qa-library-table td code { font-size: 13px; word-break: break-all; }
.qa-library-table .qa-num-cell { text-align: right; }
.qa-status.qa-library-done { color: #14532d; background: #f0fdf4; border-left-color: #16a34a; }
#qa-library button { min-height: 44px; }
@media (max-width: 600px) {
  .qa-library-table th:nth-child(5), .qa-library-table td:nth-child(5) { display: none; }
}
/* Gradio's footer: the links we keep, without the separator left by the ones we removed */
footer .divider, footer .separator { display: none !important; }
"""

# Runs once when the page loads (Gradio's `js`). Everything reacts to the answer block Python renders:
# `.qa-answer[data-question]` marks an answered question. Nothing leaves the browser.
JS = """
() => {
  document.documentElement.lang = 'zh-CN';
  const KEY = 'qa-history', SIZE = %(size)d, T = %(text)s;
  const fill = (s, v) => s.replace(/\\{(\\w+)\\}/g, (m, k) => (k in v ? v[k] : m));
  const load = () => { try { return JSON.parse(localStorage.getItem(KEY) || '[]'); } catch (e) { return []; } };
  const box = () => document.querySelector('#qa-question textarea, #qa-question input');
  const ask = (q) => {
    const el = box(); if (!el) return;
    el.value = q; el.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => document.querySelector('#qa-ask')?.click(), 50);
  };
  const show = () => {
    const list = document.getElementById('qa-history-list'); if (!list) return;
    const items = load();
    list.replaceChildren();
    if (!items.length) return;
    const label = document.createElement('span'); label.textContent = T.history; list.append(label);
    for (const q of items) {
      const b = document.createElement('button'); b.type = 'button'; b.className = 'qa-history-item';
      b.textContent = q; b.title = q; b.addEventListener('click', () => ask(q)); list.append(b);
    }
    const clear = document.createElement('button'); clear.type = 'button'; clear.className = 'qa-history-clear';
    clear.textContent = T.clear;
    clear.addEventListener('click', () => { localStorage.removeItem(KEY); show(); });
    list.append(clear);
  };
  const remember = (q) => {
    q = (q || '').trim(); if (!q) return;
    const items = [q, ...load().filter((x) => x !== q)].slice(0, SIZE);
    try { localStorage.setItem(KEY, JSON.stringify(items)); } catch (e) { return; }
    show();
  };
  const onChange = () => {
    const out = document.getElementById('qa-answer'); if (!out) return;
    const block = out.querySelector('.qa-answer, .qa-searching, .qa-error, .qa-status');
    // Gradio updates the HTML in place (the same element may turn from the searching notice into the answer), so a
    // handled block is marked with an attribute, which the next update of that element removes again
    if (!block || block.hasAttribute('data-qa-seen')) return;
    block.setAttribute('data-qa-seen', '');
    if (block.matches('.qa-answer[data-question]')) {
      const q = block.getAttribute('data-question');
      remember(q);
      // the address now asks this question: reloading shows the answer again, and the link can be shared
      const url = new URL(window.location.href); url.searchParams.set('q', q);
      history.replaceState(null, '', url);
    }
    // on a phone the answer starts below the fold: bring it into view
    const top = out.getBoundingClientRect().top;
    if (top > window.innerHeight * 0.6 || top < 0) out.scrollIntoView({behavior: 'smooth', block: 'start'});
  };
  new MutationObserver(onChange).observe(document.body, {childList: true, subtree: true});
  // A citation [n] (any in-page link of the answer) scrolls to passage n's card here. Its plain href="#qa-pn" is not
  // followed: Gradio's <base href> and the replaceState above make it point at another address (the page without
  // ?q=), which reloads the page and loses the answer.
  document.addEventListener('click', (ev) => {
    const link = ev.target.closest && ev.target.closest('#qa-answer a[href^="#"]'); if (!link) return;
    const card = document.getElementById(decodeURIComponent(link.getAttribute('href').slice(1))); if (!card) return;
    ev.preventDefault();
    card.scrollIntoView({behavior: 'smooth', block: 'start'});
  });
  document.addEventListener('click', async (ev) => {
    const btn = ev.target.closest && ev.target.closest('.qa-copy'); if (!btn) return;
    const text = btn.closest('.qa-answer')?.querySelector('.qa-copy-text')?.value || '';
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
      const area = btn.closest('.qa-answer').querySelector('.qa-copy-text');
      area.select(); ok = document.execCommand('copy');
    }
    btn.textContent = ok ? T.copied : T.copyFailed;
    setTimeout(() => { btn.textContent = T.copy; }, 2000);
  });
  // The upload limit (Gradio's max_file_size, set from the library's library_max_bytes): a selection or drop with
  // a file over it is stopped here, before Gradio sees it, and said in Chinese (Gradio's own notice is English).
  // The server refuses such an upload anyway.
  const refuseBig = (ev, files) => {
    const limit = (window.gradio_config || {}).max_file_size;
    const note = document.getElementById('qa-upload-note');
    if (!files || !files.length) return false;
    if (note) note.replaceChildren();
    const big = limit ? Array.from(files).filter((f) => f.size > limit) : [];
    if (!big.length) return false;
    ev.preventDefault(); ev.stopImmediatePropagation();
    const mb = (n) => (n / 1048576).toFixed(n >= 1048576 ? 0 : 1) + ' MB';
    if (note) {
      const line = document.createElement('div'); line.className = 'qa-error'; line.setAttribute('role', 'alert');
      line.textContent = big.map((f) => fill(T.tooBig, {name: f.name, size: mb(f.size), limit: mb(limit)})).join(T.sep)
        + T.noneUploaded;
      note.append(line);
    }
    return true;
  };
  for (const type of ['input', 'change']) {
    document.addEventListener(type, (ev) => {
      const input = ev.target;
      if (input.matches && input.matches('#qa-upload input[type=file]') && refuseBig(ev, input.files)) input.value = '';
    }, true);
  }
  document.addEventListener('drop', (ev) => {
    if (ev.target.closest && ev.target.closest('#qa-upload')) refuseBig(ev, ev.dataTransfer && ev.dataTransfer.files);
  }, true);
  const waitList = setInterval(() => {
    if (document.getElementById('qa-history-list')) { clearInterval(waitList); show(); }
  }, 200);
}
""" % {"size": HISTORY_SIZE, "text": json.dumps(SCRIPT_TEXT, ensure_ascii=False)}
