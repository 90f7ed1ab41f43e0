// zoomdiff web page: drives the JSON API (/v1/upscale and /v1/generate as
// async jobs with Server-Sent Events for progress). Plain JS, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
// run is the upscale in flight (its upload, then its job), or null.
const state = { models: null, file: null, dims: null, run: null, beforeURL: null, previewURL: null };
const terminal = (v) => v.state === 'done' || v.state === 'failed' || v.state === 'cancelled';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- setup ---------------------------------------------------------------

async function init() {
  const tabs = [...document.querySelectorAll('.tab')];
  for (const [i, t] of tabs.entries()) {
    t.addEventListener('click', () => showTab(t.id.replace('tab-', '')));
    // The arrow keys move between tabs (only the active one is in the Tab order).
    t.addEventListener('keydown', (e) => {
      const d = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!d) return;
      const next = tabs[(i + d + tabs.length) % tabs.length];
      showTab(next.id.replace('tab-', ''));
      next.focus();
    });
  }
  setupUpscale();
  setupGenerate();
  health();
  setInterval(health, 10000);
  try {
    const r = await fetch('/v1/models');
    state.models = await r.json();
  } catch (e) {
    status('status', 'Cannot reach the server: ' + e.message, true);
    return;
  }
  const m = state.models;
  const sel = $('method');
  for (const x of m.methods) {
    const o = new Option(x.name + (x.available ? '' : ' (unavailable)'), x.name, false, x.name === m.default);
    o.disabled = !x.available;
    o.title = x.summary + (x.error ? '\n' + x.error : '');
    sel.add(o);
  }
  const L = m.limits;
  $('scale').min = L.min_scale; $('scale').max = L.max_scale;
  $('samples').max = L.max_samples; $('gn').max = L.max_generate; $('steps').max = L.max_steps;
  const tau = $('temperature').parentElement;
  tau.title = tau.title.replace('by scale', m.defaults.temperature);
  $('steps').parentElement.title = 'denoising steps: ' + m.defaults.steps;
  if (!m.generator.available) { $('gen-unavailable').hidden = false; }
  if (m.generator.classes) {
    for (const c of m.generator.classes) $('gclass').add(new Option(c, c));
    $('gen-class-row').hidden = false;
  }
  methodChanged();
  updateOut();
}

function showTab(name) {
  for (const t of document.querySelectorAll('.tab')) {
    const on = t.id === 'tab-' + name;
    t.classList.toggle('active', on);
    t.setAttribute('aria-selected', on);
    t.tabIndex = on ? 0 : -1;
  }
  $('panel-upscale').hidden = name !== 'upscale';
  $('panel-generate').hidden = name !== 'generate';
}

async function health() {
  const p = $('health');
  try {
    const r = await fetch('/healthz');
    const h = await r.json();
    p.textContent = `${h.status} · ${h.running}/${h.workers} running · ${h.queued} queued`;
    p.className = 'pill ' + (r.ok ? 'ok' : 'bad');
  } catch {
    p.textContent = 'offline';
    p.className = 'pill bad';
  }
}

function status(id, text, isError) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle('error', !!isError);
}

function progress(id, v) {
  // v: null hides, NaN is indeterminate, else a fraction.
  const box = $(id);
  box.hidden = v === null;
  box.classList.toggle('indeterminate', Number.isNaN(v));
  if (v !== null && !Number.isNaN(v)) box.firstElementChild.style.width = Math.round(v * 100) + '%';
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(0) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

function randomSeed() { return String(crypto.getRandomValues(new Uint32Array(1))[0]); }

// errorText reads the API's {"error": ...} body (a sentence the page
// starts with a capital), or falls back to the status.
async function errorText(r) {
  let msg;
  try { msg = (await r.json()).error || r.statusText; } catch { msg = `${r.status} ${r.statusText}`; }
  return msg.charAt(0).toUpperCase() + msg.slice(1);
}

// watchJob follows a job by Server-Sent Events, falling back to polling if
// the stream breaks, and resolves with its final view.
function watchJob(id, onUpdate) {
  return new Promise((resolve, reject) => {
    let over = false;
    const es = new EventSource(`/v1/jobs/${id}/events`);
    es.addEventListener('job', (ev) => {
      const v = JSON.parse(ev.data);
      onUpdate(v);
      if (terminal(v)) { over = true; es.close(); resolve(v); }
    });
    es.addEventListener('gone', (ev) => { over = true; es.close(); reject(new Error(JSON.parse(ev.data).error)); });
    es.onerror = () => {
      if (over) return;
      over = true;
      es.close();
      poll(id, onUpdate).then(resolve, reject);
    };
  });
}

async function poll(id, onUpdate) {
  for (;;) {
    const r = await fetch(`/v1/jobs/${id}`);
    if (!r.ok) throw new Error(await errorText(r));
    const v = await r.json();
    onUpdate(v);
    if (terminal(v)) return v;
    await sleep(700);
  }
}

// stageText names a running job's stage (the API's stage field).
const stageText = { condition: 'Preparing the input', sampling: 'Sampling', encoding: 'Rendering the result' };

// describe is the status line for a job's view; n is the number of samples
// it draws.
function describe(v, n = 1) {
  if (v.state === 'queued') return 'Queued, waiting for a worker…';
  if (v.state === 'running') {
    const what = stageText[v.stage] || 'Working';
    const text = measured(v) ? `${what}… ${Math.round(v.progress * 100)}%` : `${what}…`;
    return n > 1 && v.stage !== 'encoding' ? `Sample ${sampleOf(v, n)} of ${n}: ${text}` : text;
  }
  return v.state;
}

// sampleOf says which of n samples a running job draws: the server gives
// each sample an equal share of the progress, which its condition starts
// and its sampling ends.
function sampleOf(v, n) {
  const x = v.progress * n;
  const k = v.stage === 'sampling' ? Math.ceil(x - 1e-6) : Math.floor(x + 1e-6) + 1;
  return Math.min(n, Math.max(1, k));
}

// measured says whether a running job's progress says how far it is: not
// before its first report, nor while it encodes (which the server does not
// measure; its progress is then already 1).
function measured(v) { return v.state === 'running' && v.progress > 0 && v.stage !== 'encoding'; }

// jobProgress is the bar for a job's view: its fraction where measured,
// else indeterminate until the job ends.
function jobProgress(v) { return terminal(v) ? 1 : measured(v) ? v.progress : NaN; }

// ---- upscale ---------------------------------------------------------------

function setupUpscale() {
  const drop = $('drop');
  $('file').addEventListener('change', () => setFile($('file').files[0]));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer.files[0];
    if (f) { $('file').files = e.dataTransfer.files; setFile(f); }
  });
  for (const r of document.querySelectorAll('input[name=mode]')) r.addEventListener('change', modeChanged);
  for (const b of document.querySelectorAll('#scale-chips button')) {
    b.addEventListener('click', () => { $('scale').value = b.dataset.scale; updateOut(); });
  }
  for (const id of ['scale', 'width', 'height']) $(id).addEventListener('input', updateOut);
  $('method').addEventListener('change', methodChanged);
  $('dice').addEventListener('click', () => { $('seed').value = randomSeed(); });
  $('slider').addEventListener('input', () => $('compare-box').style.setProperty('--split', $('slider').value + '%'));
  $('zoom').addEventListener('click', () => {
    const on = $('stage').classList.toggle('actual');
    $('zoom').textContent = on ? 'Fit' : '1:1';
  });
  $('upscale-form').addEventListener('submit', (e) => { e.preventDefault(); state.run ? cancelRun() : upscale(); });
  // While a job runs the button cancels it: Enter in a field must not
  // (Chromium submits on the keypress that follows an Enter keydown).
  for (const type of ['keydown', 'keypress']) {
    $('upscale-form').addEventListener(type, (e) => {
      if (e.key === 'Enter' && state.run && e.target !== $('go')) e.preventDefault();
    });
  }
}

function setFile(f) {
  if (!f) return;
  const L = state.models && state.models.limits;
  if (L && f.size > L.max_upload_bytes) {
    status('status', `That file is ${(f.size / 1048576).toFixed(1)} MiB; the server takes up to ${(L.max_upload_bytes / 1048576).toFixed(0)} MiB.`, true);
    return;
  }
  state.file = f;
  state.dims = null;
  if (state.previewURL) URL.revokeObjectURL(state.previewURL);
  const url = state.previewURL = URL.createObjectURL(f);
  const img = $('preview');
  $('input-info').textContent = `${f.name} · ${bytes(f.size)}`;
  updateOut();
  img.onload = () => {
    state.dims = { w: img.naturalWidth, h: img.naturalHeight };
    $('input-info').textContent = `${f.name} · ${state.dims.w}×${state.dims.h} · ${bytes(f.size)}`;
    $('go').disabled = false;
    updateOut();
    status('status', '');
  };
  // No preview: browsers show no TIFF, which the server reads; anything
  // else the browser cannot read is most likely no image at all. The
  // server has the last word either way.
  img.onerror = () => {
    img.hidden = true;
    $('drop-text').hidden = false;
    $('input-info').textContent = `${f.name} · ${bytes(f.size)} · no preview`;
    const tiff = f.type === 'image/tiff' || /\.tiff?$/i.test(f.name);
    status('status', tiff ? 'Browsers show no TIFF; the server reads it.'
      : 'This file does not look like an image: the browser cannot read it.', !tiff);
  };
  img.src = url;
  img.hidden = false;
  $('drop-text').hidden = true;
  $('go').disabled = false;
}

function mode() { return document.querySelector('input[name=mode]:checked').value; }

function modeChanged() {
  $('scale-row').hidden = mode() !== 'scale';
  $('size-row').hidden = mode() !== 'size';
  updateOut();
}

function compareMethod() { return $('method').value === 'bicubic' ? 'nearest' : 'bicubic'; }

function methodChanged() {
  const m = state.models && state.models.methods.find((x) => x.name === $('method').value);
  const card = $('card');
  card.hidden = !(m && m.card);
  card.textContent = m && m.card ? m.card : '';
  $('compare').parentElement.lastChild.textContent = ' Compare with ' + compareMethod();
  // Samples, seed and sampling settings mean something for generative
  // methods only; the server refuses samples for the others.
  const gen = !m || m.generative;
  for (const id of ['samples', 'seed', 'dice', 'steps', 'temperature', 'detail']) $(id).disabled = !gen;
  updateOut(); // the output limit depends on the method
}

// targetSize mirrors the server's rule (ceil(n·scale); a missing side keeps
// the aspect ratio) for the preview of the output size.
function targetSize() {
  if (!state.dims) return null;
  const { w, h } = state.dims;
  if (mode() === 'scale') {
    const s = parseFloat($('scale').value);
    if (!(s > 0)) return null;
    return { w: Math.ceil(w * s - 1e-9), h: Math.ceil(h * s - 1e-9) };
  }
  let W = parseInt($('width').value, 10), H = parseInt($('height').value, 10);
  if (!(W > 0) && !(H > 0)) return null;
  if (!(W > 0)) W = Math.max(1, Math.round(H * w / h));
  if (!(H > 0)) H = Math.max(1, Math.round(W * h / w));
  return { w: W, h: H };
}

function updateOut() {
  const t = targetSize();
  const L = state.models && state.models.limits;
  if (!t) { $('out-info').textContent = ''; return; }
  const mp = (t.w * t.h / 1e6).toFixed(t.w * t.h < 1e6 ? 2 : 1);
  let text = `Output ${t.w}×${t.h} (${mp} MP)`;
  // A method that renders band by band (the model) may make larger outputs.
  const m = state.models && state.models.methods.find((x) => x.name === $('method').value);
  const limit = L && (m && m.streams ? L.max_streamed_pixels : L.max_output_pixels);
  let over = false;
  const s = parseFloat($('scale').value);
  if (L && mode() === 'scale' && (s > L.max_scale || s < L.min_scale)) {
    text += ` — outside the server's scales, ×${L.min_scale} to ×${L.max_scale}`;
    over = true;
  } else if (limit && t.w * t.h > limit) {
    text += ` — over the server's ${(limit / 1e6).toFixed(1)} MP limit for ${m ? m.name : 'this method'}`;
    over = true;
  }
  $('out-info').textContent = text;
  $('out-info').classList.toggle('warn', over);
}

function requestForm(method) {
  const fd = new FormData();
  fd.append('image', state.file);
  if (mode() === 'scale') {
    fd.append('scale', $('scale').value);
  } else {
    fd.append('size', `${$('width').value || ''}x${$('height').value || ''}`);
  }
  fd.append('method', method);
  return fd;
}

async function upscale() {
  if (!state.file || state.run) return;
  const method = $('method').value;
  const fd = requestForm(method);
  let n = 1;
  if (!$('samples').disabled) {
    n = parseInt($('samples').value, 10) || 1;
    fd.append('samples', String(n));
    if ($('seed').value.trim()) fd.append('seed', $('seed').value.trim());
    if ($('steps').value.trim()) fd.append('steps', $('steps').value.trim());
    if ($('temperature').value.trim()) fd.append('param', 'temperature=' + $('temperature').value.trim());
    if ($('detail').value.trim()) fd.append('param', 'detail=' + $('detail').value.trim());
  }
  fd.append('async', '1');
  // From here the button cancels: the upload, then the job.
  const run = state.run = { abort: new AbortController(), job: null, cancelled: false };
  let reset = false; // whether the viewer dropped the last result for this one
  $('go').textContent = 'Cancel';
  status('status', 'Uploading…');
  progress('progress', NaN);
  try {
    const r = await fetch('/v1/upscale', { method: 'POST', body: fd, signal: run.abort.signal });
    run.abort = null; // answered: a job to cancel may follow
    // A refused request leaves the last result on show.
    if (!r.ok) {
      progress('progress', null);
      status('status', await errorText(r), true);
      return;
    }
    run.job = (await r.json()).id;
    if (run.cancelled) { // cancelled while the answer was on its way
      fetch(`/v1/jobs/${run.job}`, { method: 'DELETE' });
      throw new DOMException('cancelled', 'AbortError');
    }
    resetViewer();
    reset = true;
    health(); // the pill counts the job now rather than in up to 10 s
    const before = $('compare').checked ? fetchBefore(compareMethod()) : null;
    const v = await watchJob(run.job, (v) => {
      // The end has its own words, below.
      if (terminal(v)) return;
      status('status', describe(v, n));
      progress('progress', jobProgress(v));
    });
    if (v.state !== 'done') {
      const cancelled = v.state === 'cancelled';
      status('status', cancelled ? 'Cancelled.' : 'Failed: ' + v.error, !cancelled);
      $('result-info').textContent = cancelled ? 'Cancelled: no result.' : 'Failed: no result.';
      progress('progress', null);
      return;
    }
    status('status', `Done in ${v.elapsed_seconds.toFixed(1)} s · seed${v.seeds.length > 1 ? 's' : ''} ${v.seeds.join(', ')}`);
    progress('progress', 1);
    setTimeout(() => { if (!state.run) progress('progress', null); }, 800);
    showResult(v, 0);
    if (v.images.length > 1) showStrip(v);
    $('result').decode().catch(() => {}).then(() => reveal($('stage'))); // once its height is known
    if (before) before.then((url) => url && showBefore(url, compareMethod()));
  } catch (e) {
    progress('progress', null);
    if (run.cancelled) status('status', 'Cancelled.');
    else status('status', (run.job ? '' : 'Upload failed: ') + e.message, true);
    if (reset) $('result-info').textContent = run.cancelled ? 'Cancelled: no result.' : 'Failed: no result.';
  } finally {
    state.run = null;
    $('go').textContent = 'Upscale';
    health();
  }
}

// cancelRun stops the upscale in flight: its upload, or its job (whose
// stream then ends it as cancelled).
async function cancelRun() {
  const run = state.run;
  if (!run || run.cancelled) return;
  run.cancelled = true;
  status('status', 'Cancelling…');
  if (!run.job) { if (run.abort) run.abort.abort(); return; }
  await fetch(`/v1/jobs/${run.job}`, { method: 'DELETE' }).catch(() => {});
}

// reveal scrolls a result's viewer into sight where the result is out of
// it (on a phone, whose viewer is under the form).
function reveal(el) {
  const box = el.getBoundingClientRect();
  if (box.top > innerHeight || box.bottom < 0) el.closest('.viewer').scrollIntoView({ behavior: 'smooth' });
}

// fetchBefore asks for the comparison image synchronously (the kernels are
// fast) and returns an object URL for it, or null on failure.
async function fetchBefore(method) {
  try {
    const r = await fetch('/v1/upscale', { method: 'POST', body: requestForm(method) });
    if (!r.ok) return null;
    return URL.createObjectURL(await r.blob());
  } catch { return null; }
}

function resetViewer() {
  for (const id of ['result', 'before', 'divider', 'slider', 'label-before', 'label-after']) $(id).hidden = true;
  $('compare-box').classList.remove('with-before');
  $('stage').classList.add('empty');
  $('samples-strip').replaceChildren();
  $('download').classList.add('disabled');
  $('zoom').disabled = true;
  $('result-info').textContent = 'Working…';
  $('note').hidden = true;
  if (state.beforeURL) { URL.revokeObjectURL(state.beforeURL); state.beforeURL = null; }
}

function showResult(v, i) {
  const img = $('result');
  img.src = v.images[i];
  // Fit mode fills the stage's width, or 70% of the window's height.
  $('compare-box').style.setProperty('--ar', v.width / v.height);
  img.hidden = false;
  $('stage').classList.remove('empty');
  $('result-info').textContent = `${v.width}×${v.height} · ${v.method} · seed ${v.seeds[i]}`;
  $('note').textContent = v.note ? 'Note: ' + v.note + '.' : '';
  $('note').hidden = !v.note;
  const a = $('download');
  a.href = v.images[i];
  a.download = `zoomdiff-${v.width}x${v.height}-${v.method}-${v.seeds[i]}.png`;
  a.classList.remove('disabled');
  $('zoom').disabled = false;
  $('label-after').textContent = v.method;
  for (const [k, b] of [...$('samples-strip').children].entries()) b.classList.toggle('active', k === i);
}

function showStrip(v) {
  const strip = $('samples-strip');
  v.images.forEach((src, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.title = 'seed ' + v.seeds[i];
    const t = document.createElement('img');
    t.src = src;
    t.alt = 'sample ' + (i + 1);
    b.append(t);
    b.addEventListener('click', () => showResult(v, i));
    strip.append(b);
  });
  strip.firstElementChild.classList.add('active');
}

function showBefore(url, method) {
  state.beforeURL = url;
  const b = $('before');
  b.onload = () => {
    b.hidden = false;
    $('compare-box').classList.add('with-before');
    for (const id of ['divider', 'slider', 'label-before', 'label-after']) $(id).hidden = false;
    $('label-before').textContent = method;
  };
  b.src = url;
}

// ---- generate --------------------------------------------------------------

function setupGenerate() {
  for (const r of document.querySelectorAll('input[name=gsize]')) {
    r.addEventListener('change', () => { $('gen-custom').hidden = genSize() !== 'custom'; });
  }
  $('gdice').addEventListener('click', () => { $('gseed').value = randomSeed(); });
  $('generate-form').addEventListener('submit', (e) => { e.preventDefault(); generate(); });
}

function genSize() { return document.querySelector('input[name=gsize]:checked').value; }

async function generate() {
  let size = genSize();
  if (size === 'custom') size = `${$('gwidth').value}x${$('gheight').value}`;
  const body = new URLSearchParams({ n: $('gn').value || '1', size, async: '1' });
  if ($('gseed').value.trim()) body.set('seed', $('gseed').value.trim());
  if (!$('gen-class-row').hidden) {
    if ($('gclass').value) body.set('class', $('gclass').value);
    if ($('gguidance').value.trim()) body.set('guidance', $('gguidance').value.trim());
  }
  $('ggo').disabled = true;
  progress('gprogress', NaN);
  status('gstatus', 'Submitting…');
  try {
    const r = await fetch('/v1/generate', { method: 'POST', body });
    if (!r.ok) {
      const msg = await errorText(r);
      status('gstatus', r.status === 501 ? 'Generation is not available on this server yet: ' + msg : msg, true);
      progress('gprogress', null);
      return;
    }
    const job = await r.json();
    health();
    const v = await watchJob(job.id, (v) => {
      if (terminal(v)) return;
      status('gstatus', describe(v));
      progress('gprogress', jobProgress(v));
    });
    if (v.state !== 'done') { status('gstatus', 'Failed: ' + v.error, true); progress('gprogress', null); return; }
    progress('gprogress', 1);
    status('gstatus', `Done in ${v.elapsed_seconds.toFixed(1)} s`);
    setTimeout(() => progress('gprogress', null), 800);
    const gallery = $('gallery');
    $('gallery-empty').hidden = true;
    // The newest batch first, in its own order.
    const figs = v.images.map((src, i) => {
      const fig = document.createElement('figure');
      const img = document.createElement('img');
      img.src = src;
      img.alt = `generated ${v.width}×${v.height}`;
      const cap = document.createElement('figcaption');
      const a = document.createElement('a');
      a.href = src;
      a.download = `zoomdiff-gen-${v.width}x${v.height}-${v.seeds[i]}-${i}.png`;
      a.textContent = 'Download';
      const what = v.images.length > 1 ? ` · ${i + 1} of ${v.images.length}` : '';
      cap.append(`${v.width}×${v.height} · seed ${v.seeds[i]}${what}`, a);
      fig.append(img, cap);
      return fig;
    });
    gallery.prepend(...figs);
    figs[0].firstChild.decode().catch(() => {}).then(() => reveal(gallery));
  } catch (e) {
    status('gstatus', e.message, true);
    progress('gprogress', null);
  } finally {
    $('ggo').disabled = false;
    health();
  }
}

init();
