// tfdiffusion web page. Plain JavaScript, no libraries, no network beyond this server.
//
// It uses only public REST endpoints:
//   GET  /v1/models                          (extension) models, versions, samplers, class names
//   GET  /v1/models/NAME/versions/N/metadata (TF Serving) the signatures of a version
//   POST /v1/models/NAME/versions/N:predict  (TF Serving) images, as images_png_bytes (b64);
//                                            img2img with an uploaded image (b64 PNG) and a strength;
//                                            inpaint with the image and a painted or uploaded mask
//   POST /v1/models/NAME/versions/N:interpolate (extension) the strip between two seeds' images
//   GET  /v1/runs, /v1/runs/NAME/metrics.csv, /v1/runs/NAME/samples/step-N.png (extensions)
//
// The settings live in the URL's hash (#view=generate&model=demo&version=1&class=Bag&seeds=1,2
// &guidance=3&steps=20), so a link reproduces a result: opening it restores the form and
// generates the same images again.
'use strict';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const RANDOM_SEED_LIMIT = 2 ** 31;
const UNCONDITIONAL = 'none';

const state = {
  models: [],          // from GET /v1/models
  maxBatch: 64,
  selection: null,     // {model, version, entry, signature, inputs, editInputs}
  initImage: null,     // image-to-image: the chosen image as a PNG of the model's size (base64)
  initSize: null,      // that size
  initNatural: null,   // the chosen file's own size, {width, height} (a mask file may have it)
  mask: null,          // inpainting: the mask at the model's size, values in [0, 1] (1 = regenerate)
  painting: null,      // the pointer that paints the mask now: {id, x, y}
  selectToken: 0,      // ignores answers for a selection the user has left
  selectError: null,   // why the selected version cannot be used (it failed to load)
  busy: false,
  runs: null,          // from GET /v1/runs
  runName: null,
  metrics: null,       // parsed metrics.csv of the selected run
};

const $ = (id) => document.getElementById(id);

/** A problem with what the user typed: shown as it is. */
class InputError extends Error {}

/** An error answer of the server: its HTTP status and the message of {"error": ...}. */
class ServerError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---------------------------------------------------------------------------------------------
// Talking to the server

async function request(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new Error(`Cannot reach the server at ${location.host} (${e.message}). ` +
        'Is tfdiffusion serve still running?');
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try {
      const body = JSON.parse(text);
      if (body && typeof body.error === 'string') message = body.error;
    } catch (ignored) {
      // not JSON: show the text itself
    }
    throw new ServerError(response.status, message || response.statusText);
  }
  return text;
}

async function getJson(path, init) {
  return JSON.parse(await request(path, init));
}

const STATUS_WORDS = {
  400: 'The server could not run this request',
  404: 'Not found',
  405: 'The server does not accept this request',
  413: 'The request is too large for the server',
  429: 'The server is busy; try again in a moment',
  500: 'The server failed',
  501: 'The server does not support this',
  503: 'The model is not available',
};

/** An error in plain words, for the page. */
function describe(error) {
  if (error instanceof ServerError) {
    const lead = STATUS_WORDS[error.status] || `The server answered ${error.status}`;
    return `${lead}: ${error.message}`;
  }
  return error.message || String(error);
}

function showError(box, error) {
  box.textContent = describe(error);
  box.hidden = false;
}

function clearError(box) {
  box.textContent = '';
  box.hidden = true;
}

// ---------------------------------------------------------------------------------------------
// The URL's hash: the settings of the page

function hashParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ''));
}

function setHash(params) {
  const hash = '#' + params.toString().replace(/%2C/g, ',');
  if (location.hash !== hash) history.replaceState(null, '', hash);
}

// ---------------------------------------------------------------------------------------------
// Views

function showView(view) {
  const runs = view === 'runs';
  $('view-generate').hidden = runs;
  $('view-runs').hidden = !runs;
  $('tab-generate').classList.toggle('active', !runs);
  $('tab-runs').classList.toggle('active', runs);
}

async function applyHash() {
  const params = hashParams();
  const view = params.get('view') === 'runs' ? 'runs' : 'generate';
  showView(view);
  if (view === 'runs') {
    await loadRuns(params.get('run'));
  } else {
    await restoreGenerate(params);
  }
}

// ---------------------------------------------------------------------------------------------
// Generate: models and versions

/** The pretrained model that ships in saved_models/, offered first. */
const SHIPPED_MODEL = 'fashion-mnist';

async function loadModels() {
  const listing = await getJson('/v1/models');
  const all = listing.models || [];
  // only tfdiffusion exports generate images (a classifier or another SavedModel does not);
  // the shipped pretrained model comes first
  const generates = (m) => m.versions.some((v) => v.tfdiffusion);
  state.models = all.filter(generates).sort((a, b) =>
      (b.name === SHIPPED_MODEL) - (a.name === SHIPPED_MODEL) || a.name.localeCompare(b.name));
  state.maxBatch = listing.max_batch || state.maxBatch;
  $('count').max = state.maxBatch;
  const others = all.length - state.models.length;
  $('server-info').textContent =
      `${state.models.length} generator${state.models.length === 1 ? '' : 's'}` +
      (others > 0 ? ` (+${others} other model${others === 1 ? '' : 's'})` : '') + ' · ' +
      `up to ${state.maxBatch} images per request`;
  fillSelect($('model'), state.models.map((m) => [m.name, m.name]));
  if (state.models.length === 0) {
    $('model-info').textContent = 'No models yet. Export one: ./tfdiffusion export --run RUN ' +
        '--name NAME; it appears here after a reload.';
    $('generate').disabled = true;
  }
}

function fillSelect(select, pairs) {
  select.replaceChildren();
  for (const [value, label] of pairs) {
    const option = document.createElement('option');
    option.value = value;
    option.textContent = label;
    select.append(option);
  }
}

function modelNamed(name) {
  return state.models.find((m) => m.name === name);
}

/** Selects a model (and a version: the default when absent), then reads its signatures. */
async function selectModel(name, version) {
  const model = modelNamed(name);
  if (!model) return;
  $('model').value = name;
  fillSelect($('version'), model.versions.map((v) => [String(v.version),
      `${v.version}${v.version === model.default_version ? ' (default)' : ''}` +
      `${v.state === 'END' ? ' — failed to load' : ''}`]));
  const wanted = version != null && model.versions.some((v) => v.version === version)
      ? version : model.default_version;
  $('version').value = String(wanted);
  await selectVersion(model, wanted);
}

async function selectVersion(model, version) {
  const token = ++state.selectToken;
  const entry = model.versions.find((v) => v.version === version);
  state.selection = null;
  state.selectError = null;
  $('model-info').textContent = 'Loading the model…';
  describeEntry(entry);
  let metadata;
  try {
    metadata = await getJson(
        `/v1/models/${encodeURIComponent(model.name)}/versions/${version}/metadata`);
  } catch (e) {
    if (token === state.selectToken) {
      $('model-info').textContent = '';
      state.selectError = e;
      showError($('gen-error'), e);
    }
    return;
  }
  if (token !== state.selectToken) return;
  const defs = metadata.metadata.signature_def.signature_def;
  const signature = defs.sample ? 'sample' : 'serving_default';
  const inputs = Object.keys((defs[signature] || {}).inputs || {});
  // image-to-image needs the img2img signature (an export without it generates from noise only),
  // inpainting the inpaint signature
  const editInputs = defs.img2img ? Object.keys(defs.img2img.inputs || {}) : null;
  const inpaintInputs = defs.inpaint ? Object.keys(defs.inpaint.inputs || {}) : null;
  state.selection = {model: model.name, version, entry, signature, inputs, editInputs, inpaintInputs};
  $('model-info').textContent = infoText(entry);
  $('guidance-field').hidden = !inputs.includes('guidance_scale');
  $('class-field').hidden = !inputs.includes('class_label');
  $('edit-field').hidden = !editInputs;
  showStripField(entry.tfdiffusion ? null : 'This model has no tfdiffusion metadata, so the ' +
      'server cannot interpolate between its seeds; export it with tfdiffusion export.');
  // an image scaled for another model's size is dropped (the server takes only its own size)
  if (!editInputs || state.initSize !== (entry.image_shape || [])[0]) clearInitImage();
  showEditFields();
}

/**
 * Shows the fields of what the form will do: with an image, image-to-image (a strength, the
 * export's own steps); without, sampling from noise (steps, and η for DDIM).
 */
function showEditFields() {
  const sel = state.selection;
  const editing = Boolean(sel && sel.editInputs && state.initImage);
  const inputs = sel ? sel.inputs : [];
  $('steps-field').hidden = editing || !inputs.includes('num_steps');
  $('eta-field').hidden = editing || !inputs.includes('eta');
  $('init-row').hidden = !state.initImage;
  $('strength-row').hidden = !editing;
  const canPaint = editing && Boolean(sel.inpaintInputs);
  $('mask-field').hidden = !canPaint;
  $('mask-editor').hidden = !canPaint || !$('mask-on').checked;
  $('mask-missing').hidden = !editing || canPaint;
  $('mask-missing').textContent = 'This export has no inpaint signature, so it cannot regenerate ' +
      'a painted area; export the run again with tfdiffusion export to add it.';
  if (sel && sel.entry.steps) {
    $('strength-hint').textContent = 'How far the results move from the image: the share of ' +
        `the sampler's ${sel.entry.steps} steps that run (1 = from pure noise, the image unused; ` +
        `at least ${formatStrength(1 / sel.entry.steps)}).`;
  }
}

function formatStrength(s) {
  return String(Math.round(s * 1000) / 1000);
}

/**
 * Reads a chosen image file into state.initImage: the centred square, scaled to the model's size
 * (the server takes images of exactly that size), as a PNG.
 */
async function chooseInitImage(file) {
  clearError($('gen-error'));
  const sel = state.selection;
  if (!file || !sel) return;
  const size = (sel.entry.image_shape || [])[0];
  let image;
  try {
    image = await loadImage(await readAsDataUrl(file));
  } catch (e) {
    clearInitImage();
    showError($('gen-error'), new InputError(`"${file.name}" is no image this browser can read; ` +
        'choose a PNG or JPEG.'));
    return;
  }
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const g = canvas.getContext('2d');
  const side = Math.min(image.naturalWidth, image.naturalHeight);
  g.drawImage(image, (image.naturalWidth - side) / 2, (image.naturalHeight - side) / 2, side, side,
      0, 0, size, size);
  const url = canvas.toDataURL('image/png');
  state.initImage = url.slice(url.indexOf(',') + 1);
  state.initSize = size;
  state.initNatural = {width: image.naturalWidth, height: image.naturalHeight};
  $('init-preview').src = url;
  $('mask-image').src = url;
  state.mask = new Float32Array(size * size);
  $('mask-canvas').width = size;
  $('mask-canvas').height = size;
  const brushMax = Math.max(2, Math.round(size / 3));
  $('brush').max = String(brushMax);
  if (Number($('brush').value) > brushMax) $('brush').value = String(brushMax);
  $('brush-value').textContent = $('brush').value;
  drawMask();
  showEditFields();
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error('not an image'));
    image.src = src;
  });
}

function clearInitImage() {
  state.initImage = null;
  state.initSize = null;
  state.initNatural = null;
  state.mask = null;
  state.painting = null;
  $('init-image').value = '';
  $('mask-file').value = '';
  $('mask-on').checked = false;
  $('init-preview').removeAttribute('src');
  $('mask-image').removeAttribute('src');
  showEditFields();
}

// ---------------------------------------------------------------------------------------------
// Inpainting: the mask, painted with a brush at the model's pixels or read from a file

/** Pixel (i, j) of the mask is painted when its centre lies within the brush's disc around (x, y). */
function paintAt(x, y) {
  const size = state.initSize;
  const r = Number($('brush').value) / 2;
  for (let j = Math.max(0, Math.floor(y - r)); j <= Math.min(size - 1, Math.floor(y + r)); j++) {
    for (let i = Math.max(0, Math.floor(x - r)); i <= Math.min(size - 1, Math.floor(x + r)); i++) {
      const dx = i + 0.5 - x;
      const dy = j + 0.5 - y;
      if (dx * dx + dy * dy <= r * r + 1e-9) state.mask[j * size + i] = 1;
    }
  }
}

/** Paints along the segment from (x0, y0) to (x1, y1), in steps of a quarter pixel. */
function paintLine(x0, y0, x1, y1) {
  const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) * 4));
  for (let k = 1; k <= n; k++) paintAt(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n);
}

/** The pointer's position in mask pixels. */
function maskPoint(event) {
  const box = $('mask-canvas').getBoundingClientRect();
  return {
    x: (event.clientX - box.left) / box.width * state.initSize,
    y: (event.clientY - box.top) / box.height * state.initSize,
  };
}

/** The mask over the image: red where it regenerates, as strong as the mask's value. */
function drawMask() {
  const canvas = $('mask-canvas');
  if (!state.mask) return;
  const g = canvas.getContext('2d');
  const data = g.createImageData(canvas.width, canvas.height);
  state.mask.forEach((m, k) => {
    data.data[4 * k] = 255;
    data.data[4 * k + 1] = 48;
    data.data[4 * k + 2] = 48;
    data.data[4 * k + 3] = Math.round(m * 150);
  });
  g.putImageData(data, 0, 0);
}

function bindMaskPainting() {
  const canvas = $('mask-canvas');
  canvas.addEventListener('pointerdown', (event) => {
    if (!state.mask || event.button !== 0) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    const p = maskPoint(event);
    state.painting = {id: event.pointerId, ...p};
    paintAt(p.x, p.y);
    drawMask();
  });
  canvas.addEventListener('pointermove', (event) => {
    const last = state.painting;
    if (!last || last.id !== event.pointerId || !state.mask) return;
    const p = maskPoint(event);
    paintLine(last.x, last.y, p.x, p.y);
    state.painting = {id: event.pointerId, ...p};
    drawMask();
  });
  const stop = (event) => {
    if (state.painting && state.painting.id === event.pointerId) state.painting = null;
  };
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);
}

/**
 * Reads a mask file into state.mask: the chosen image's size (cropped and scaled as the image is)
 * or the model's, grayscale; white = regenerate, black = keep, grays blend.
 */
async function chooseMaskFile(file) {
  clearError($('gen-error'));
  if (!file || !state.initImage) return;
  const size = state.initSize;
  const fail = (message) => {
    $('mask-file').value = '';
    showError($('gen-error'), new InputError(message));
  };
  let image;
  try {
    image = await loadImage(await readAsDataUrl(file));
  } catch (e) {
    fail(`"${file.name}" is no image this browser can read; choose a grayscale PNG.`);
    return;
  }
  const w = image.naturalWidth;
  const h = image.naturalHeight;
  const natural = state.initNatural;
  const ofImage = w === natural.width && h === natural.height;
  if (!ofImage && !(w === size && h === size)) {
    fail(`The mask "${file.name}" is ${w}×${h} but the image is ${natural.width}×` +
        `${natural.height}: give a mask of the image's size (or ${size}×${size}, the model's).`);
    return;
  }
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const g = canvas.getContext('2d');
  g.fillStyle = '#000';
  g.fillRect(0, 0, size, size);
  g.imageSmoothingEnabled = false;
  const side = Math.min(w, h);
  g.drawImage(image, (w - side) / 2, (h - side) / 2, side, side, 0, 0, size, size);
  const pixels = g.getImageData(0, 0, size, size).data;
  const mask = new Float32Array(size * size);
  for (let k = 0; k < mask.length; k++) {
    const [r, gr, b] = [pixels[4 * k], pixels[4 * k + 1], pixels[4 * k + 2]];
    if (r !== gr || r !== b) {
      fail(`The mask "${file.name}" has colours; give a grayscale PNG (white = regenerate, ` +
          'black = keep, grays blend).');
      return;
    }
    mask[k] = r / 255;
  }
  state.mask = mask;
  $('mask-on').checked = true;
  showEditFields();
  drawMask();
}

/** The mask as one row, [S, S, 1], of the inpaint signature's mask input. */
function maskRow() {
  const size = state.initSize;
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = [];
    for (let x = 0; x < size; x++) row.push([state.mask[y * size + x]]);
    rows.push(row);
  }
  return rows;
}

/** Fills the class list, guidance and steps from what the export says. */
function describeEntry(entry) {
  const classes = [];
  if (entry.conditional) {
    for (let i = 0; i < entry.num_classes; i++) {
      classes.push([String(i), entry.class_names[i] || `class ${i}`]);
    }
    classes.push([UNCONDITIONAL, 'none (unconditional)']);
  }
  const previous = $('class').value;
  fillSelect($('class'), classes);
  if (classes.some(([v]) => v === previous)) $('class').value = previous;
  if (entry.default_guidance != null) $('guidance').value = String(entry.default_guidance);
  if (entry.steps) $('steps').value = String(entry.steps);
  $('steps').max = entry.max_steps || '';
  $('steps-hint').textContent = entry.max_steps
      ? `1 to ${entry.max_steps}; the export's default is ${entry.steps}.` : '';
}

function infoText(entry) {
  if (!entry.tfdiffusion) return 'A SavedModel without tfdiffusion metadata.';
  const shape = (entry.image_shape || []).join('×');
  const parts = [`${entry.sampler_kind || entry.sampler}, ${entry.steps} steps`, shape];
  parts.push(entry.conditional ? `${entry.num_classes} classes` : 'unconditional');
  parts.push(`trained ${entry.training_step} steps`);
  return parts.join(' · ');
}

// ---------------------------------------------------------------------------------------------
// Generate: reading the form

/**
 * The seeds of the text field as decimal strings (int64: beyond JavaScript's exact integers, so
 * they travel as written).
 */
function parseSeeds(text) {
  const seeds = [];
  const parts = text.split(/[,\s]+/).filter((p) => p.length > 0);
  if (parts.length === 0) {
    throw new InputError('Enter at least one seed, such as 1, 2, 3 (or press Random seeds).');
  }
  for (const part of parts) {
    const range = /^(\d+)(?:-|\.\.)(\d+)$/.exec(part);
    if (range) {
      const from = BigInt(range[1]);
      const to = BigInt(range[2]);
      if (to < from) throw new InputError(`The seed range ${part} runs backwards; write ${to}-${from}.`);
      if (to > INT64_MAX) throw new InputError(`Seed ${to} is larger than the largest seed, ${INT64_MAX}.`);
      if (to - from >= BigInt(state.maxBatch)) throw tooMany(Number(to - from + 1n));
      for (let s = from; s <= to; s++) seeds.push(s.toString());
    } else if (/^-?\d+$/.test(part)) {
      const seed = BigInt(part);
      if (seed < INT64_MIN || seed > INT64_MAX) {
        throw new InputError(`Seed ${part} is outside the 64-bit range ${INT64_MIN} to ${INT64_MAX}.`);
      }
      seeds.push(seed.toString());
    } else {
      throw new InputError(`Seed "${part}" is not a whole number. Seeds are integers such as 42, ` +
          'or ranges such as 1-8, separated by commas.');
    }
    if (seeds.length > state.maxBatch) throw tooMany(seeds.length);
  }
  return seeds;
}

function tooMany(count) {
  return new InputError(`${count} or more images is over this server's limit of ` +
      `${state.maxBatch} per request (serve --max-batch); use fewer seeds.`);
}

/** The predict request of the form, checked; throws an InputError naming a bad field. */
function readForm() {
  const sel = state.selection;
  if (!sel && state.selectError) throw state.selectError;
  if (!sel) throw new InputError('The model is not ready yet; wait a moment or pick another one.');
  const seeds = parseSeeds($('seeds').value);
  const n = seeds.length;
  const inputs = {};
  const settings = {model: sel.model, version: sel.version, seeds};
  const editing = Boolean(sel.editInputs && state.initImage);
  const inpainting = editing && Boolean(sel.inpaintInputs) && $('mask-on').checked;
  const wanted = inpainting ? sel.inpaintInputs : editing ? sel.editInputs : sel.inputs;
  if (wanted.includes('class_label')) {
    const value = $('class').value;
    let label;
    if (value === UNCONDITIONAL) {
      label = sel.entry.num_classes;
      settings.class = UNCONDITIONAL;
    } else {
      label = Number(value.replace(/^label:/, ''));
      settings.class = value.startsWith('label:')
          ? value.slice('label:'.length) : (sel.entry.class_names[label] || String(label));
    }
    inputs.class_label = Array(n).fill(label);
  }
  if (wanted.includes('guidance_scale')) {
    const text = $('guidance').value.trim();
    const guidance = Number(text);
    if (text === '' || !Number.isFinite(guidance)) {
      throw new InputError('The guidance scale must be a number, such as 3 ' +
          '(0: unconditional, 1: plain conditional).');
    }
    inputs.guidance_scale = Array(n).fill(guidance);
    settings.guidance = guidance;
  }
  if (wanted.includes('num_steps')) {
    const text = $('steps').value.trim();
    const steps = Number(text);
    const max = sel.entry.max_steps;
    if (!/^\d+$/.test(text) || steps < 1 || (max && steps > max)) {
      throw new InputError(`Sampler steps must be a whole number from 1 to ${max || 1000}` +
          `${max ? ` (this model's ${sel.entry.sampler_kind} sampler)` : ''}, not "${text}".`);
    }
    inputs.num_steps = steps;
    settings.steps = steps;
  }
  if (wanted.includes('eta')) {
    const text = $('eta').value.trim();
    const eta = Number(text);
    if (text === '' || !(eta >= 0 && eta <= 1)) {
      throw new InputError(`η must be a number from 0 to 1, not "${text}".`);
    }
    inputs.eta = eta;
    settings.eta = eta;
  }
  if (editing) {
    const strength = Number($('strength').value);
    const steps = sel.entry.steps || 1;
    if (!(strength > 0 && strength <= 1) || Math.floor(steps * strength) < 1) {
      throw new InputError(`The strength must be from ${formatStrength(1 / steps)} to 1 ` +
          `(this model runs ${steps} steps), not ${$('strength').value}.`);
    }
    inputs.images = Array(n).fill({b64: state.initImage});
    inputs.strength = strength;
    settings.strength = strength;
  }
  if (inpainting) {
    if (!state.mask || !state.mask.some((m) => m > 0)) {
      throw new InputError('The mask is empty: paint the area to regenerate on the image (or ' +
          'upload a mask), or untick inpainting to vary the whole image.');
    }
    // the server's REST API takes every batched input with one row per seed
    inputs.mask = Array(n).fill(maskRow());
    settings.inpaint = true;
  }
  // Seeds are int64: written into the JSON as they are, not through a JavaScript number.
  const signature = inpainting ? 'inpaint' : editing ? 'img2img' : sel.signature;
  const body = JSON.stringify({signature_name: signature, inputs: {seed: '@SEEDS@', ...inputs}})
      .replace('"@SEEDS@"', `[${seeds.join(',')}]`);
  return {body, settings};
}

function settingsHash(settings) {
  const p = new URLSearchParams();
  p.set('view', 'generate');
  p.set('model', settings.model);
  p.set('version', String(settings.version));
  if (settings.class != null) p.set('class', settings.class);
  p.set('seeds', settings.seeds.join(','));
  if (settings.guidance != null) p.set('guidance', String(settings.guidance));
  if (settings.steps != null) p.set('steps', String(settings.steps));
  if (settings.eta != null) p.set('eta', String(settings.eta));
  return p;
}

/** The form's settings from a link; generates when the link carries seeds. */
async function restoreGenerate(params) {
  clearError($('gen-error'));
  if (state.models.length === 0) return;
  const name = params.get('model');
  const problems = [];
  let model = name ? modelNamed(name) : null;
  if (name && !model) {
    problems.push(`This link names model "${name}", which this server does not have ` +
        `(it has ${state.models.map((m) => m.name).join(', ')}).`);
  }
  model = model || modelNamed($('model').value) || state.models[0];
  let version = null;
  if (params.has('version')) {
    version = Number(params.get('version'));
    if (model.name === name && !model.versions.some((v) => v.version === version)) {
      problems.push(`Model ${model.name} has no version ${params.get('version')} ` +
          `(it has ${model.versions.map((v) => v.version).join(', ')}); showing the default.`);
      version = null;
    }
  }
  await selectModel(model.name, version);
  const entry = state.selection ? state.selection.entry : null;
  if (params.has('class') && entry && entry.conditional) {
    const wanted = params.get('class');
    const index = entry.class_names.indexOf(wanted);
    if (wanted === UNCONDITIONAL) {
      $('class').value = UNCONDITIONAL;
    } else if (index >= 0) {
      $('class').value = String(index);
    } else if (/^-?\d+$/.test(wanted)) {
      // a label by number: the server checks its range
      const option = [...$('class').options].find((o) => o.value === wanted);
      if (option) {
        $('class').value = wanted;
      } else {
        const extra = document.createElement('option');
        extra.value = `label:${wanted}`;
        extra.textContent = `label ${wanted} (from the link)`;
        $('class').append(extra);
        $('class').value = extra.value;
      }
    } else {
      problems.push(`Class "${wanted}" is not one of this model's classes ` +
          `(${entry.class_names.join(', ')}).`);
    }
  }
  for (const [key, field] of [['seeds', 'seeds'], ['guidance', 'guidance'], ['steps', 'steps'],
    ['eta', 'eta']]) {
    if (params.has(key)) $(field).value = params.get(key);
  }
  if (problems.length > 0) {
    showError($('gen-error'), new InputError(problems.join('\n')));
    return;
  }
  if (params.has('seeds') && state.selection) await generate();
}

// ---------------------------------------------------------------------------------------------
// Generate: the request

function setBusy(busy, count) {
  state.busy = busy;
  $('generate').disabled = busy;
  $('random').disabled = busy;
  $('interpolate').disabled = busy;
  $('generate').textContent = busy ? 'Generating…' : 'Generate';
  $('progress').hidden = !busy;
  $('results').classList.toggle('stale', busy);
  clearInterval(state.timer);
  if (busy) {
    const start = performance.now();
    const what = `${count} image${count === 1 ? '' : 's'}`;
    const tick = () => {
      $('progress-text').textContent =
          `Generating ${what}… ${((performance.now() - start) / 1000).toFixed(1)} s`;
    };
    tick();
    state.timer = setInterval(tick, 100);
  }
}

async function generate() {
  if (state.busy) return;
  clearError($('gen-error'));
  let form;
  try {
    form = readForm();
  } catch (e) {
    showError($('gen-error'), e);
    return;
  }
  const {body, settings} = form;
  // a link cannot carry the chosen image: it is offered for results from noise only
  $('share-hint').hidden = settings.strength != null;
  if (settings.strength == null) {
    const params = settingsHash(settings);
    setHash(params);
    $('share').href = '#' + params.toString().replace(/%2C/g, ',');
  }
  setBusy(true, settings.seeds.length);
  const start = performance.now();
  try {
    const answer = await getJson(
        `/v1/models/${encodeURIComponent(settings.model)}/versions/${settings.version}:predict`,
        {method: 'POST', headers: {'Content-Type': 'application/json'}, body});
    showImages(answer, settings, performance.now() - start);
  } catch (e) {
    showError($('gen-error'), e);
  } finally {
    setBusy(false);
  }
}

function showImages(answer, settings, millis) {
  const pngs = (answer.outputs || {}).images_png_bytes;
  if (!Array.isArray(pngs)) {
    throw new Error('The answer has no images_png_bytes output; is this a tfdiffusion export?');
  }
  const n = pngs.length;
  const info = $('result-info');
  info.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = `${n} image${n === 1 ? '' : 's'} in ${(millis / 1000).toFixed(2)} s`;
  info.append(strong);
  const parts = [`${(millis / 1000 / n).toFixed(2)} s per image`,
    `${settings.model} v${settings.version}`];
  if (settings.class != null) parts.push(settings.class === UNCONDITIONAL ? 'unconditional' : settings.class);
  if (settings.guidance != null) parts.push(`guidance ${settings.guidance}`);
  if (settings.steps != null) parts.push(`${settings.steps} steps`);
  if (settings.eta != null) parts.push(`η ${settings.eta}`);
  if (settings.inpaint) {
    parts.push(`the painted area regenerated, strength ${settings.strength}`);
  } else if (settings.strength != null) {
    parts.push(`from the image, strength ${settings.strength}`);
  }
  info.append(' · ' + parts.join(' · '));

  const grid = $('results');
  grid.replaceChildren();
  pngs.forEach((png, i) => {
    const src = `data:image/png;base64,${png.b64}`;
    const seed = settings.seeds[i];
    const figure = document.createElement('figure');
    figure.className = 'card';
    const img = document.createElement('img');
    img.src = src;
    img.alt = `seed ${seed}`;
    img.dataset.seed = seed;
    const caption = document.createElement('figcaption');
    const label = document.createElement('span');
    label.textContent = `seed ${seed}`;
    const download = document.createElement('a');
    download.href = src;
    // replaced by an upscaled copy once decoded: a 28-pixel image is hard to look at
    img.addEventListener('load', () => { download.href = upscaledPng([img], null); }, {once: true});
    download.download = fileName(settings, seed);
    download.textContent = 'PNG ↓';
    download.title = 'Download this image';
    caption.append(label, download);
    figure.append(img, caption);
    grid.append(figure);
  });
  $('gen-empty').hidden = true;
  addGridDownload(info, settings);
}

/** Cells of downloaded PNGs are at least this many pixels (nearest-neighbour upscaling). */
const DOWNLOAD_MIN_CELL = 56;

/**
 * One PNG (a data URL) of the given decoded images side by side, each upscaled to at least
 * DOWNLOAD_MIN_CELL pixels, with `label` (if any) written left of them.
 */
function upscaledPng(images, label) {
  const h = images[0].naturalHeight;
  const w = images[0].naturalWidth;
  const scale = Math.max(1, Math.ceil(DOWNLOAD_MIN_CELL / h));
  const border = 2;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d');
  const font = `${Math.max(10, Math.round(h * scale / 4))}px sans-serif`;
  ctx.font = font;
  const margin = label ? Math.ceil(ctx.measureText(label).width) + 12 : 0;
  const single = images.length === 1 && !label;
  canvas.width = single ? w * scale : margin + images.length * (w * scale + border) + border;
  canvas.height = single ? h * scale : h * scale + 2 * border;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  images.forEach((img, i) => {
    const x = single ? 0 : margin + border + i * (w * scale + border);
    ctx.drawImage(img, x, single ? 0 : border, w * scale, h * scale);
  });
  if (label) {
    ctx.font = font;
    ctx.fillStyle = '#e6e6e6';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(label, margin - 6, canvas.height / 2);
  }
  return canvas.toDataURL('image/png');
}

/** A "grid PNG" link in the result line: every image of the answer in one labelled row. */
function addGridDownload(info, settings) {
  const images = [...$('results').querySelectorAll('img')];
  if (images.length < 2) return;
  const link = document.createElement('a');
  link.id = 'grid-download';
  link.textContent = 'grid PNG ↓';
  link.title = 'Download all images as one upscaled grid';
  link.download = fileName(settings, 'all');
  link.href = '#';
  link.addEventListener('click', (event) => {
    if (!images.every((img) => img.complete && img.naturalWidth > 0)) {
      event.preventDefault();
      return;
    }
    const label = settings.class != null && settings.class !== UNCONDITIONAL ? String(settings.class) : null;
    link.href = upscaledPng(images, label);
  });
  info.append(' · ', link);
}

function fileName(settings, seed) {
  const parts = [settings.model, `v${settings.version}`];
  if (settings.class != null) parts.push(String(settings.class).replace(/[^A-Za-z0-9_-]+/g, '-'));
  parts.push(seed === 'all' ? 'grid' : `seed${seed}`);
  return parts.join('-') + '.png';
}

function randomSeeds() {
  const count = Math.max(1, Math.min(state.maxBatch, Math.floor(Number($('count').value)) || 4));
  $('count').value = String(count);
  const values = new Uint32Array(count);
  crypto.getRandomValues(values);
  $('seeds').value = [...values].map((v) => v % RANDOM_SEED_LIMIT).join(', ');
  generate();
}

// ---------------------------------------------------------------------------------------------
// Interpolation: a strip of frames between two seeds (the server's :interpolate extension)

/** Shows the strip's controls, or why this model has none. */
function showStripField(why) {
  $('strip-field').hidden = why != null;
  $('strip-missing').hidden = why == null;
  $('strip-missing').textContent = why || '';
}

function parseOneSeed(id, name) {
  const text = $(id).value.trim();
  if (!/^-?\d+$/.test(text)) {
    throw new InputError(`${name} "${text}" is not a whole number; give a seed such as 42.`);
  }
  const seed = BigInt(text);
  if (seed < INT64_MIN || seed > INT64_MAX) {
    throw new InputError(`${name} ${text} is outside the 64-bit range ${INT64_MIN} to ${INT64_MAX}.`);
  }
  return seed.toString();
}

/** The interpolate request of the strip's fields (and the form's class and guidance), checked. */
function readStrip() {
  const sel = state.selection;
  if (!sel && state.selectError) throw state.selectError;
  if (!sel) throw new InputError('The model is not ready yet; wait a moment or pick another one.');
  const a = parseOneSeed('seed-a', 'Seed A');
  const b = parseOneSeed('seed-b', 'Seed B');
  const framesText = $('frames').value.trim();
  const frames = Number(framesText);
  if (!/^\d+$/.test(framesText) || frames < 2 || frames > state.maxBatch) {
    throw new InputError(`Frames must be a whole number from 2 to ${state.maxBatch} (the two ` +
        `seeds' own images included; this server's limit is serve --max-batch), not "${framesText}".`);
  }
  const stepsText = $('strip-steps').value.trim();
  const steps = Number(stepsText);
  if (!/^\d+$/.test(stepsText) || steps < 1 || steps > 100) {
    throw new InputError(`Strip steps must be a whole number from 1 to 100, not "${stepsText}".`);
  }
  const fields = {frames, num_steps: steps};
  const settings = {model: sel.model, version: sel.version, a, b, frames, steps};
  if (sel.entry.conditional) {
    const value = $('class').value;
    const text = $('guidance').value.trim();
    const guidance = Number(text);
    if (text === '' || !Number.isFinite(guidance)) {
      throw new InputError('The guidance scale must be a number, such as 3 ' +
          '(0: unconditional, 1: plain conditional).');
    }
    if (value === UNCONDITIONAL) {
      // guidance 0 is the unconditional prediction, whatever the label
      fields.class_label = 0;
      fields.guidance_scale = 0;
      settings.class = UNCONDITIONAL;
    } else {
      const label = Number(value.replace(/^label:/, ''));
      fields.class_label = label;
      fields.guidance_scale = guidance;
      settings.class = sel.entry.class_names[label] || String(label);
      settings.guidance = guidance;
    }
  }
  // seeds are int64: written into the JSON as they are, not through a JavaScript number
  const body = JSON.stringify({seed_a: '@A@', seed_b: '@B@', ...fields})
      .replace('"@A@"', a).replace('"@B@"', b);
  return {body, settings};
}

async function interpolate() {
  if (state.busy) return;
  clearError($('gen-error'));
  let form;
  try {
    form = readStrip();
  } catch (e) {
    showError($('gen-error'), e);
    return;
  }
  const {body, settings} = form;
  setBusy(true, settings.frames);
  const start = performance.now();
  try {
    const answer = await getJson(
        `/v1/models/${encodeURIComponent(settings.model)}/versions/${settings.version}:interpolate`,
        {method: 'POST', headers: {'Content-Type': 'application/json'}, body});
    showStrip(answer, settings, performance.now() - start);
  } catch (e) {
    if (e instanceof ServerError && e.status === 404) {
      showStripField(`This server cannot interpolate between this model's seeds: ${e.message}`);
    }
    showError($('gen-error'), e);
  } finally {
    setBusy(false);
  }
}

function showStrip(answer, settings, millis) {
  const pngs = (answer.outputs || {}).images_png_bytes;
  if (!Array.isArray(pngs)) throw new Error('The answer has no images_png_bytes output.');
  const info = $('strip-info');
  info.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = `${pngs.length} frames from seed ${settings.a} to seed ${settings.b} in ` +
      `${(millis / 1000).toFixed(2)} s`;
  info.append(strong);
  const parts = [`${settings.model} v${settings.version}`, answer.sampler || `${settings.steps} steps`];
  if (settings.class != null) parts.push(settings.class === UNCONDITIONAL ? 'unconditional' : settings.class);
  if (settings.guidance != null) parts.push(`guidance ${settings.guidance}`);
  info.append(' · ' + parts.join(' · '));
  const strip = $('strip');
  strip.replaceChildren();
  pngs.forEach((png, i) => {
    const figure = document.createElement('figure');
    const img = document.createElement('img');
    img.src = `data:image/png;base64,${png.b64}`;
    img.alt = `frame ${i}`;
    img.dataset.frame = String(i);
    const caption = document.createElement('figcaption');
    caption.textContent = i === 0 ? `A (${settings.a})` : i === pngs.length - 1
        ? `B (${settings.b})` : `frame ${i}`;
    figure.append(img, caption);
    strip.append(figure);
  });
  const images = [...strip.querySelectorAll('img')];
  const link = document.createElement('a');
  link.id = 'strip-download';
  link.textContent = 'strip PNG ↓';
  link.title = 'Download the frames as one upscaled strip';
  link.download = `${settings.model}-v${settings.version}-seed${settings.a}-to-${settings.b}.png`;
  link.href = '#';
  link.addEventListener('click', (event) => {
    if (!images.every((img) => img.complete && img.naturalWidth > 0)) {
      event.preventDefault();
      return;
    }
    link.href = upscaledPng(images, null);
  });
  info.append(' · ', link);
  $('strip-area').hidden = false;
  $('gen-empty').hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Runs

async function loadRuns(wanted) {
  clearError($('runs-error'));
  try {
    state.runs = await getJson('/v1/runs');
  } catch (e) {
    showError($('runs-error'), e);
    return;
  }
  const list = $('run-list');
  list.replaceChildren();
  const runs = state.runs.runs;
  if (state.runs.runs_dir == null) {
    $('runs-dir').textContent = 'This server shows no training runs. Start it with ' +
        'serve --runs DIR (a folder of run folders, such as runs/).';
    $('run-detail').hidden = true;
    return;
  }
  $('runs-dir').textContent = runs.length === 0
      ? `No runs in ${state.runs.runs_dir} yet.` : `${runs.length} in ${state.runs.runs_dir}`;
  for (const run of runs) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.run = run.name;
    const name = document.createElement('span');
    name.className = 'run-name';
    name.textContent = run.name;
    const meta = document.createElement('span');
    meta.className = 'run-meta';
    meta.textContent = [run.last_step != null ? `step ${run.last_step}` : 'no metrics yet',
      run.last_loss != null ? `loss ${formatNumber(run.last_loss)}` : null,
      `${run.samples.length} grid${run.samples.length === 1 ? '' : 's'}`]
        .filter((x) => x).join(' · ');
    button.append(name, meta);
    button.addEventListener('click', () => selectRun(run.name));
    li.append(button);
    list.append(li);
  }
  if (runs.length === 0) {
    $('run-detail').hidden = true;
    return;
  }
  if (wanted && !runs.some((r) => r.name === wanted)) {
    showError($('runs-error'), new InputError(`There is no run "${wanted}" in ` +
        `${state.runs.runs_dir}; showing the newest.`));
    wanted = null;
  }
  await selectRun(wanted || runs[0].name);
}

async function selectRun(name) {
  const run = state.runs.runs.find((r) => r.name === name);
  if (!run) return;
  state.runName = name;
  const p = new URLSearchParams();
  p.set('view', 'runs');
  p.set('run', name);
  setHash(p);
  for (const b of $('run-list').querySelectorAll('button')) {
    b.classList.toggle('active', b.dataset.run === name);
  }
  $('run-detail').hidden = false;
  $('run-title').textContent = name;
  showSummary(run);
  showSamples(run);
  state.metrics = null;
  $('chart').replaceChildren();
  if (run.rows === 0) {
    $('chart').textContent = 'No metrics yet: metrics.csv has no rows.';
    return;
  }
  try {
    const csv = await request(`/v1/runs/${encodeURIComponent(name)}/metrics.csv`);
    if (state.runName !== name) return;
    state.metrics = parseCsv(csv);
    drawChart();
  } catch (e) {
    showError($('runs-error'), e);
  }
}

function showSummary(run) {
  const c = run.config || {};
  const model = c.model || {};
  const training = c.training || {};
  const conditioning = c.conditioning || {};
  const items = [
    ['step', run.last_step == null ? '—' : training.steps >= run.last_step
        ? `${run.last_step} of ${training.steps}` : String(run.last_step)],
    ['loss', run.last_loss != null ? formatNumber(run.last_loss) : '—'],
    ['preset', c.preset || '—'],
    ['images', model.imageSize ? `${model.imageSize}×${model.imageSize}×${model.channels}` : '—'],
    ['classes', model.numClasses ? String(model.numClasses) : 'unconditional'],
    ['batch', training.batchSize ? String(training.batchSize) : '—'],
    ['learning rate', c.optimizer ? formatNumber(c.optimizer.learningRate) : '—'],
    ['updated', new Date(run.updated).toLocaleString()],
  ];
  if (c.fineTune && c.fineTune.parentRun) items.push(['fine-tuned from', c.fineTune.parentRun]);
  if (conditioning.enabled && conditioning.guidance != null) {
    items.push(['sample guidance', String(conditioning.guidance)]);
  }
  const dl = $('run-summary');
  dl.replaceChildren();
  for (const [term, value] of items) {
    const div = document.createElement('div');
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    div.append(dt, dd);
    dl.append(div);
  }
}

function showSamples(run) {
  const box = $('samples');
  box.replaceChildren();
  if (run.samples.length === 0) {
    box.textContent = 'No sample grids yet (train writes samples/step-N.png every --sample-every steps).';
    return;
  }
  for (const sample of run.samples) {
    const url = `/v1/runs/${encodeURIComponent(run.name)}/samples/${encodeURIComponent(sample.file)}`;
    const figure = document.createElement('figure');
    const link = document.createElement('a');
    link.href = url;
    link.target = '_blank';
    link.rel = 'noopener';
    const img = document.createElement('img');
    img.src = url;
    img.alt = `samples at step ${sample.step}`;
    img.loading = 'lazy';
    img.dataset.step = String(sample.step);
    link.append(img);
    const caption = document.createElement('figcaption');
    caption.textContent = `step ${sample.step}`;
    figure.append(link, caption);
    box.append(figure);
  }
}

/** metrics.csv as {columns: [...], rows: [[numbers]]}. */
function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const columns = lines.length > 0 ? lines[0].split(',') : [];
  const rows = lines.slice(1).map((l) => l.split(',').map(Number));
  return {columns, rows};
}

// ---------------------------------------------------------------------------------------------
// The chart: inline SVG

const SVG = 'http://www.w3.org/2000/svg';
const CHART = {width: 720, height: 280, left: 62, right: 16, top: 14, bottom: 34};

function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, String(v));
  if (parent) parent.append(element);
  return element;
}

function drawChart() {
  const box = $('chart');
  box.replaceChildren();
  const metrics = state.metrics;
  if (!metrics) return;
  const series = $('series').value;
  const column = metrics.columns.indexOf(series);
  const stepColumn = metrics.columns.indexOf('step');
  if (column < 0 || stepColumn < 0) {
    box.textContent = `metrics.csv has no ${series} column.`;
    return;
  }
  const log = $('log-scale').checked;
  const points = metrics.rows
      .map((r) => [r[stepColumn], r[column]])
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0));
  if (points.length === 0) {
    box.textContent = `No ${series} values to draw${log ? ' on a log scale' : ''}.`;
    return;
  }
  const {width, height, left, right, top, bottom} = CHART;
  const root = svg('svg', {viewBox: `0 0 ${width} ${height}`, role: 'img', id: 'loss-svg',
    'aria-label': `${series} by training step`});
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const f = log ? Math.log10 : (v) => v;
  let y0 = f(Math.min(...ys));
  let y1 = f(Math.max(...ys));
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const px = (x) => left + (x - x0) / (x1 - x0) * (width - left - right);
  const py = (y) => top + (1 - (f(y) - y0) / (y1 - y0)) * (height - top - bottom);

  for (const t of log ? logTicks(10 ** y0, 10 ** y1) : niceTicks(y0, y1, 5)) {
    const y = py(t);
    svg('line', {x1: left, x2: width - right, y1: y, y2: y, class: 'grid-line'}, root);
    svg('text', {x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'tick'}, root)
        .textContent = formatNumber(t);
  }
  for (const t of niceTicks(x0, x1, 6).filter((v) => Number.isInteger(v))) {
    const x = px(t);
    svg('line', {x1: x, x2: x, y1: height - bottom, y2: height - bottom + 4, class: 'axis'}, root);
    svg('text', {x, y: height - bottom + 17, 'text-anchor': 'middle', class: 'tick'}, root)
        .textContent = String(t);
  }
  svg('line', {x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, class: 'axis'}, root);
  svg('line', {x1: left, x2: left, y1: top, y2: height - bottom, class: 'axis'}, root);
  svg('text', {x: width - right, y: height - 3, 'text-anchor': 'end', class: 'tick'}, root)
      .textContent = 'step';

  const toPoints = (pts) => pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
  if (points.length === 1) {
    svg('circle', {cx: px(points[0][0]), cy: py(points[0][1]), r: 4, class: 'dot'}, root);
  } else {
    svg('polyline', {points: toPoints(points), class: 'raw'}, root);
    svg('polyline', {points: toPoints(smooth(points, log)), class: 'smooth'}, root);
  }

  // a cursor that reads out the nearest row
  const cursor = svg('line', {y1: top, y2: height - bottom, class: 'cursor', visibility: 'hidden'}, root);
  const readout = svg('text', {x: left + 8, y: top + 12, class: 'readout'}, root);
  root.addEventListener('mousemove', (event) => {
    const box = root.getBoundingClientRect();
    const x = (event.clientX - box.left) / box.width * width;
    let best = points[0];
    for (const p of points) if (Math.abs(px(p[0]) - x) < Math.abs(px(best[0]) - x)) best = p;
    cursor.setAttribute('x1', px(best[0]));
    cursor.setAttribute('x2', px(best[0]));
    cursor.setAttribute('visibility', 'visible');
    readout.textContent = `step ${best[0]}: ${series} ${formatNumber(best[1])}`;
  });
  root.addEventListener('mouseleave', () => {
    cursor.setAttribute('visibility', 'hidden');
    readout.textContent = '';
  });
  box.append(root);
}

/** TensorBoard-style smoothing: an exponential moving average with bias correction. */
function smooth(points, log) {
  const weight = Math.min(0.9, Math.max(0, 1 - 10 / points.length));
  const out = [];
  let average = 0;
  let correction = 0;
  for (const [x, y] of points) {
    const v = log ? Math.log(y) : y;
    average = average * weight + (1 - weight) * v;
    correction = correction * weight + (1 - weight);
    const s = average / correction;
    out.push([x, log ? Math.exp(s) : s]);
  }
  return out;
}

function niceTicks(min, max, count) {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const r = raw / magnitude;
  const step = (r >= 7.5 ? 10 : r >= 3.5 ? 5 : r >= 1.5 ? 2 : 1) * magnitude;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

function logTicks(min, max) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min && v <= max) ticks.push(Number(v.toPrecision(6)));
    }
  }
  if (ticks.length >= 2) return ticks;
  return niceTicks(Math.log10(min), Math.log10(max), 4).map((e) => Number((10 ** e).toPrecision(3)));
}

function formatNumber(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

// ---------------------------------------------------------------------------------------------
// Start

function bind() {
  $('gen-form').addEventListener('submit', (event) => {
    event.preventDefault();
    generate();
  });
  $('random').addEventListener('click', randomSeeds);
  $('model').addEventListener('change', () => {
    clearError($('gen-error'));
    selectModel($('model').value, null);
  });
  $('version').addEventListener('change', () => {
    clearError($('gen-error'));
    selectVersion(modelNamed($('model').value), Number($('version').value));
  });
  for (const tab of document.querySelectorAll('.tab, #brand')) {
    tab.addEventListener('click', (event) => {
      event.preventDefault();
      const view = tab.dataset.view || 'generate';
      showView(view);
      if (view === 'runs') {
        loadRuns(state.runName);
      } else {
        const p = new URLSearchParams();
        p.set('view', 'generate');
        setHash(state.selection ? settingsOrView() : p);
      }
    });
  }
  $('init-image').addEventListener('change', () => chooseInitImage($('init-image').files[0]));
  $('init-clear').addEventListener('click', () => {
    clearError($('gen-error'));
    clearInitImage();
  });
  $('strength').addEventListener('input', () => {
    $('strength-value').textContent = $('strength').value;
  });
  $('mask-on').addEventListener('change', () => {
    // inpainting regenerates the painted area from pure noise unless the strength is lowered
    if ($('mask-on').checked) {
      $('strength').value = '1';
      $('strength-value').textContent = '1';
    }
    showEditFields();
  });
  $('brush').addEventListener('input', () => {
    $('brush-value').textContent = $('brush').value;
  });
  $('mask-clear').addEventListener('click', () => {
    if (state.mask) state.mask.fill(0);
    $('mask-file').value = '';
    drawMask();
  });
  $('mask-invert').addEventListener('click', () => {
    if (state.mask) state.mask.forEach((m, k) => { state.mask[k] = 1 - m; });
    drawMask();
  });
  $('mask-file').addEventListener('change', () => chooseMaskFile($('mask-file').files[0]));
  bindMaskPainting();
  $('interpolate').addEventListener('click', interpolate);
  // Enter in the strip's fields draws the strip rather than submitting the form
  for (const id of ['seed-a', 'seed-b', 'frames', 'strip-steps']) {
    $(id).addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      interpolate();
    });
  }
  $('runs-refresh').addEventListener('click', () => loadRuns(state.runName));
  $('series').addEventListener('change', drawChart);
  $('log-scale').addEventListener('change', drawChart);
  window.addEventListener('hashchange', () => applyHash());
}

/** The hash of the form as it is, when it reads cleanly; else just the view. */
function settingsOrView() {
  try {
    return settingsHash(readForm().settings);
  } catch (ignored) {
    const p = new URLSearchParams();
    p.set('view', 'generate');
    return p;
  }
}

async function start() {
  bind();
  try {
    await loadModels();
  } catch (e) {
    showError($('gen-error'), e);
  }
  try {
    await applyHash();
  } catch (e) {
    showError($('gen-error'), e);
  } finally {
    document.body.dataset.ready = 'true'; // for tests: the page has started
  }
}

start();
