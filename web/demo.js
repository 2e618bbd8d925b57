// The demo page: a drawn digit through the binary LeNet, a dropped photo through the ImageNet model.
//
// URL parameters (used by tests/web/test_page.py, handy for links): `digit=URL` draws that image on the pad and
// classifies it, `photo=URL` classifies that photo. When everything asked for is shown, <body data-state> is
// "ready" ("error" with the reason in #status on a failure).
import { loadRuntime } from "./bmx.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const LATENCY_WINDOW = 25;  // runs in the median shown
const WARM_UP_RUNS = 3;  // on zeros after loading: the engine compiles hot code again, optimised, after a few runs

/** Probabilities for display: the scores if they already are a distribution, else their softmax. */
function probabilities(scores) {
  const sum = scores.reduce((a, b) => a + b, 0);
  if (scores.every((s) => s >= 0 && s <= 1) && Math.abs(sum - 1) < 1e-3) return scores;
  const max = Math.max(...scores);
  const exp = scores.map((s) => Math.exp(s - max));
  const total = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / total);
}

function showTop(list, { top, scores }) {
  const probs = probabilities(scores);
  list.replaceChildren(...top.map(({ index, label }) => {
    const item = document.createElement("li");
    item.dataset.index = index;
    item.textContent = `${label ?? index} — ${(100 * probs[index]).toFixed(1)} %`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, 120 * probs[index])}px`;
    item.append(bar);
    return item;
  }));
}

/** Median of the last LATENCY_WINDOW run times, shown beside the last one. */
function latencyMeter(element) {
  const times = [];
  return (ms) => {
    times.push(ms);
    if (times.length > LATENCY_WINDOW) times.shift();
    const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
    element.textContent = `${ms.toFixed(3)} ms per run (median of the last ${times.length}: ${median.toFixed(3)} ms)`;
  };
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load image ${url.slice(0, 80)}`));
    image.src = url;
  });
}

/**
 * MNIST's framing of a drawing: the ink's bounding box scaled to fit 20 x 20, placed in 28 x 28 with its
 * centre of mass in the middle (as the MNIST digits were made). Returns false for an empty pad.
 */
function frameDigit(pad, target) {
  const { width, height } = pad;
  const ink = pad.getContext("2d").getImageData(0, 0, width, height).data;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; ++y) {
    for (let x = 0; x < width; ++x) {
      if (ink[4 * (y * width + x)] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  const context = target.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#000";
  context.fillRect(0, 0, 28, 28);
  if (x1 < 0) return false;
  const w = x1 - x0 + 1, h = y1 - y0 + 1, s = 20 / Math.max(w, h);
  const box = document.createElement("canvas");
  box.width = box.height = 28;
  const boxContext = box.getContext("2d", { willReadFrequently: true });
  boxContext.imageSmoothingQuality = "high";
  boxContext.drawImage(pad, x0, y0, w, h, 0, 0, w * s, h * s);
  const small = boxContext.getImageData(0, 0, 28, 28).data;
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < 28; ++y) {
    for (let x = 0; x < 28; ++x) {
      const v = small[4 * (y * 28 + x)];
      mass += v; mx += v * x; my += v * y;
    }
  }
  context.drawImage(box, Math.round(14 - mx / mass), Math.round(14 - my / mass));
  return true;
}

function setupPad(model, onResult) {
  const pad = $("pad"), small = $("digit28");
  const context = pad.getContext("2d", { willReadFrequently: true });
  const clear = () => {
    context.fillStyle = "#000";
    context.fillRect(0, 0, pad.width, pad.height);
  };
  const classify = () => {
    if (frameDigit(pad, small)) onResult(model.classify(small, { topk: 3 }));
  };
  let drawing = false, pending = false;
  const scheduleClassify = () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => { pending = false; classify(); });
    }
  };
  const point = (event) => {
    const rect = pad.getBoundingClientRect();
    return [(event.clientX - rect.left) * pad.width / rect.width,
            (event.clientY - rect.top) * pad.height / rect.height];
  };
  pad.addEventListener("pointerdown", (event) => {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    context.beginPath();
    context.moveTo(...point(event));
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    Object.assign(context, { strokeStyle: "#fff", lineWidth: 22, lineCap: "round", lineJoin: "round" });
    context.lineTo(...point(event));
    context.stroke();
    scheduleClassify();
  });
  pad.addEventListener("pointerup", () => { drawing = false; classify(); });
  $("clear").addEventListener("click", () => {
    clear();
    frameDigit(pad, small);
    $("digits-top").replaceChildren();
  });
  clear();
  return {
    async drawImage(url) {
      const image = await loadImage(url);
      clear();
      context.drawImage(image, 0, 0, pad.width, pad.height);
      classify();
    },
  };
}

/** The ImageNet preprocessing: the image's centre square scaled to the model's input size. */
function centreSquare(image, size) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const side = Math.min(image.naturalWidth, image.naturalHeight);
  canvas.getContext("2d").drawImage(image, (image.naturalWidth - side) / 2, (image.naturalHeight - side) / 2,
                                    side, side, 0, 0, size, size);
  return canvas;
}

function setupPhotos(model, onResult) {
  const drop = $("drop"), photo = $("photo");
  const classifyUrl = async (url) => {
    const image = await loadImage(url);
    photo.src = url;
    onResult(model.classify(centreSquare(image, model.inputs[0].shape[3]), { topk: 3 }));
  };
  const classifyFile = (file) => file && classifyUrl(URL.createObjectURL(file)).catch(fail);
  $("file").addEventListener("change", (event) => classifyFile(event.target.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    classifyFile(event.dataTransfer.files[0]);
  });
  return { classifyUrl };
}

function fail(error) {
  document.body.dataset.state = "error";
  $("status").textContent = `Error: ${error.message ?? error}`;
  console.error(error);
}

async function main() {
  const [runtime, manifest] = await Promise.all([
    loadRuntime({ wasmUrl: new URL("wasm/", location.href) }),
    fetch("models/models.json").then((r) => {
      if (!r.ok) throw new Error(`models/models.json: HTTP ${r.status} (run python -m tools.web)`);
      return r.json();
    }),
  ]);
  const load = (task) => {
    const entry = manifest.models.find((m) => m.task === task);
    return entry && runtime.loadModel(new URL(`models/${entry.file}`, location.href), entry).then((model) => {
      const zeros = new Float32Array(model.inputs[0].size);
      for (let i = 0; i < WARM_UP_RUNS; ++i) model.run(zeros);
      return { entry, model };
    });
  };
  const [digits, photos] = await Promise.all([load("digits"), load("imagenet")]);
  $("status").textContent = `bmxnet-ext runtime ${runtime.version}, WebAssembly build ${runtime.build}, ` +
                            `binary kernels: ${runtime.isa}, one thread`;
  const work = [];
  for (const [task, section, setup, param, method] of [
    [digits, "digits", setupPad, "digit", "drawImage"], [photos, "photos", setupPhotos, "photo", "classifyUrl"]]) {
    if (!task) {
      $(`${section}-model`).textContent = "(no model in models/models.json)";
      continue;
    }
    $(`${section}-model`).textContent = task.entry.title;
    const meter = latencyMeter($(`${section}-latency`));
    const ui = setup(task.model, (result) => { showTop($(`${section}-top`), result); meter(result.ms); });
    if (params.has(param)) work.push(ui[method](params.get(param)));
  }
  await Promise.all(work);
  document.body.dataset.state = "ready";
}

main().catch(fail);
