// The painter's code grid, drawn and edited in the browser so that a click or a brush stroke shows at once.
// Runs as gr.HTML's js_on_load: `element` is the component, `props.value` what Python last sent (see
// paint.canvas_value), `server.decode_cells` the fast path that decodes a grid without the queue, and
// trigger('stroke') hands the finished stroke to Python, which keeps the history, JSON and bits.
const root = element.querySelector('.vqe-painter');
const canvas = root.querySelector('canvas');
const picture = root.querySelector('img');
const message = root.querySelector('.vqe-message');
const caption = root.querySelector('.vqe-caption');
const ctx = canvas.getContext('2d');
let state = null;          // what is drawn: Python's last value, edited in place by strokes
let sprite = null;         // the codes' decoded looks, when "show cells as their decoded look" is on
let stroke = null;         // the stroke in progress: {select, code, value, last}
let inflight = false;      // one decode request at a time; changes made meanwhile go in the next one
let changedAt = null;      // time of the first change the picture does not show yet
let committing = false;    // a finished stroke waits for its picture before it goes to Python
let generation = 0;        // which value from Python is drawn: answers about an older one are dropped
let shownExact = true;     // false while the picture is a preview (only the window the stroke changed)
window.vqePaintLog = window.vqePaintLog || [];   // [input → picture on screen ms, server ms]: for benchmarks

function load(v) {
  if (!v || !v.grid) return;
  generation += 1;
  changedAt = null;
  state = {...v, grid: v.grid.map(r => r.slice()), region: v.region.map(r => r.slice())};
  canvas.width = v.grid[0].length * v.px;
  canvas.height = v.grid.length * v.px;
  sprite = null;
  if (v.tiles) {
    sprite = new Image();
    sprite.onload = draw;
    sprite.src = v.tiles;
  }
  if (v.decoded) picture.src = v.decoded;
  picture.hidden = !v.decoded;       // a tokenizer without a decoder: the message says so instead
  showExact(true);
  message.textContent = v.message || '';
  draw();
}

function draw() {
  const px = state.px;
  ctx.imageSmoothingEnabled = false;
  ctx.font = `bold ${Math.max(9, Math.floor(px / 3))}px sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  state.grid.forEach((row, r) => row.forEach((k, c) => {
    const x = c * px, y = r * px;
    ctx.fillStyle = state.colours[k];
    ctx.fillRect(x, y, px, px);
    const inset = px >= 16 ? 2 : 0;   // small cells (a photo's grid) are drawn edge to edge, unframed
    if (sprite && sprite.complete) {
      const [th, tw] = state.tile_size, cols = state.tile_cols;
      ctx.drawImage(sprite, (k % cols) * tw, Math.floor(k / cols) * th, tw, th, x + inset, y + inset,
                    px - 2 * inset, px - 2 * inset);
    }
    if (inset) {
      ctx.strokeStyle = 'white';
      ctx.strokeRect(x + 0.5, y + 0.5, px - 1, px - 1);
    }
    if (state.numbers) {
      ctx.lineWidth = 3; ctx.strokeStyle = 'black'; ctx.strokeText(String(k), x + px / 2, y + px / 2);
      ctx.fillStyle = 'white'; ctx.fillText(String(k), x + px / 2, y + px / 2); ctx.lineWidth = 1;
    }
    if (state.region[r][c]) {   // a selected cell: hatched, as the server's pictures show it
      ctx.fillStyle = 'rgba(0, 0, 0, 0.35)';
      ctx.fillRect(x, y, px, px);
      ctx.strokeStyle = 'yellow';
      ctx.beginPath();
      for (let d = -px; d < px; d += 8) { ctx.moveTo(x + Math.max(0, d), y + Math.max(0, -d));
        ctx.lineTo(x + Math.min(px, px + d), y + Math.min(px, px - d)); }
      ctx.stroke();
    }
  }));
}

function cellAt(e) {
  const b = canvas.getBoundingClientRect();
  const c = Math.floor((e.clientX - b.left) / b.width * state.grid[0].length);
  const r = Math.floor((e.clientY - b.top) / b.height * state.grid.length);
  return [Math.min(Math.max(r, 0), state.grid.length - 1), Math.min(Math.max(c, 0), state.grid[0].length - 1)];
}

function apply([r, c], time) {
  if (stroke.select) {
    state.region[r][c] = stroke.value;
  } else if (state.grid[r][c] !== stroke.code) {
    state.grid[r][c] = stroke.code;
    changedAt = changedAt ?? time;
    decode();
  }
}

function showExact(exact) {
  // The status says which picture is shown; a class on the component says it to tests.
  shownExact = exact;
  caption.textContent = exact ? 'decoded' : 'preview: the window the stroke changed (exact when the stroke ends)';
  root.classList.toggle('vqe-preview', !exact);
  root.classList.toggle('vqe-exact', exact);
}

async function decode(exact = false) {
  if (inflight) return;
  inflight = true;
  const since = changedAt ?? performance.now(), asked = generation;
  changedAt = null;
  const t0 = performance.now();
  try {
    const r = await server.decode_cells({checkpoint: state.checkpoint, grid: state.grid, exact});
    if (asked !== generation) {
      // Python sent another grid meanwhile (undo, clear, another checkpoint): this picture is of the old one
    } else if (r.error) {
      message.textContent = r.error;
    } else {
      picture.src = r.decoded;
      await picture.decode();
      showExact(r.exact !== false);
      window.vqePaintLog.push([performance.now() - since, r.ms, performance.now() - t0]);
    }
  } catch (err) {
    message.textContent = 'the server did not answer; your edit is kept and will be sent with the next one';
  } finally {
    inflight = false;
    if (changedAt !== null) decode();
    else if (committing && !stroke) commit();
    else if (!stroke && !shownExact) decode(true);   // the stroke is over: the full decode replaces the preview
  }
}

canvas.addEventListener('pointerdown', (e) => {
  if (!state) return;
  const select = (document.querySelector('#paint-tool input:checked')?.value ?? 'Set code') !== 'Set code';
  const code = Number(document.querySelector('#paint-code input')?.value);
  if (!select && !(Number.isInteger(code) && code >= 0 && code < state.colours.length)) {
    message.textContent = `choose a code between 0 and ${state.colours.length - 1} first`;
    return;
  }
  message.textContent = state.message || '';
  canvas.setPointerCapture(e.pointerId);
  const cell = cellAt(e);
  stroke = {select, code, value: select ? !state.region[cell[0]][cell[1]] : null, last: [e.clientX, e.clientY]};
  apply(cell, e.timeStamp);
  draw();
});

canvas.addEventListener('pointermove', (e) => {
  if (!stroke) return;
  const [x0, y0] = stroke.last, steps = Math.max(1, Math.ceil(Math.hypot(e.clientX - x0, e.clientY - y0) / 4));
  for (let i = 1; i <= steps; i++) {   // every cell the pointer crossed, however fast it moved
    apply(cellAt({clientX: x0 + (e.clientX - x0) * i / steps, clientY: y0 + (e.clientY - y0) * i / steps}),
          e.timeStamp);
  }
  stroke.last = [e.clientX, e.clientY];
  draw();
});

function finish() {
  if (!stroke) return;
  stroke = null;
  committing = true;
  if (!inflight) commit();
}

function commit() {   // after the picture: the queue's round trip then does not hold up what the user sees
  committing = false;
  props.value = {checkpoint: state.checkpoint, grid: state.grid.map(r => r.slice()),
                 region: state.region.map(r => r.slice())};
  trigger('stroke');
  if (!shownExact && !inflight) decode(true);
}
canvas.addEventListener('pointerup', finish);
canvas.addEventListener('pointercancel', finish);

watch('value', () => load(props.value));
load(props.value);
