// bmx.js - the bmxnet-ext runtime in JavaScript: an ES module over the WebAssembly build of native/runtime
// (native/web). Runs a converted `.bmx` model (docs/bmx_format.md) in a browser or in Node.js.
//
//   import { loadRuntime } from "./bmx.js";
//   const runtime = await loadRuntime({ wasmUrl: "wasm/" });       // SIMD128 build where the engine has SIMD
//   const model = await runtime.loadModel("models/lenet.bmx", { labels, input: { scale: 1 / 255 } });
//   const { outputs, ms } = model.run(new Float32Array(model.inputs[0].size));
//   const { top } = model.classify(canvas, { topk: 3 });            // [{ index, label, score }, ...]
//   model.free();
//
// Scores are the model's first output as computed (logits or probabilities, whatever the graph ends with).

const STATUS = ["ok", "invalid argument", "i/o error", "invalid model file", "unsupported model feature",
                "out of memory", "internal error"];
const DTYPES = [
  { name: "float32", array: Float32Array },
  { name: "int32", array: Int32Array },
  { name: "uint64", array: BigUint64Array },
];
// bmx_tensor_info on wasm32 (native/web/bmx_web.cc checks these offsets with static_assert).
const INFO = { size: 88, name: 0, dtype: 4, ndim: 8, dims: 16, nbytes: 80 };
const PROFILE = { size: 24, name: 0, op: 4, totalMs: 8, runs: 16 };
const IMAGENET = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const IS_NODE = typeof process === "object" && typeof process.versions?.node === "string";

/** A failed runtime call: `status` is the C status code, the message the runtime's explanation. */
export class BmxError extends Error {
  constructor(status, message) {
    super(`[${STATUS[status] ?? status}] ${message}`);
    this.name = "BmxError";
    this.status = status;
  }
}

/** True if this engine validates a module using SIMD128 (i8x16.popcnt). */
export function simdSupported() {
  // (module (func (result v128) v128.const i64x2 0 0 i8x16.popcnt))
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 24, 1, 22, 0,
    253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 98, 11]);
  return WebAssembly.validate(bytes);
}

async function readBytes(url) {
  if (IS_NODE && !/^https?:/.test(String(url))) {
    const { readFile } = await import("node:fs/promises");
    return new Uint8Array(await readFile(url instanceof URL ? url : new URL(url, `file://${process.cwd()}/`)));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url} failed: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Load the WebAssembly runtime.
 * @param {object} [options]
 * @param {string|URL} [options.wasmUrl] folder of bmx_web.mjs / bmx_web.wasm (default: "./wasm/" beside this file)
 * @param {"auto"|boolean} [options.simd] use the SIMD128 build: "auto" (default) where the engine supports it
 * @returns {Promise<Runtime>}
 */
export async function loadRuntime({ wasmUrl = new URL("./wasm/", import.meta.url), simd = "auto" } = {}) {
  const base = new URL(String(wasmUrl).endsWith("/") ? String(wasmUrl) : `${wasmUrl}/`,
                       IS_NODE ? `file://${process.cwd()}/` : globalThis.location?.href);
  const useSimd = simd === "auto" ? simdSupported() : Boolean(simd);
  const name = useSimd ? "bmx_web" : "bmx_web_portable";
  const { default: createBmxModule } = await import(new URL(`${name}.mjs`, base).href);
  const settings = { locateFile: (file) => new URL(file, base).href };
  if (IS_NODE) settings.wasmBinary = await readBytes(new URL(`${name}.wasm`, base));
  return new Runtime(await createBmxModule(settings), name);
}

/** One instance of the WebAssembly runtime; models loaded by it share its memory. */
export class Runtime {
  constructor(module, build) {
    this._m = module;
    /** "bmx_web" (SIMD128) or "bmx_web_portable". */
    this.build = build;
  }

  /** Runtime version as "major.minor.patch". */
  get version() { return this._string(this._m._bmx_version()); }

  /** The instruction set of the binary kernels: "wasm_simd" or "portable". */
  get isa() { return this._string(this._m._bmx_web_isa()); }

  /** The instruction sets this build supports, fastest last. */
  get availableIsas() { return this._string(this._m._bmx_web_available_isas()).split(","); }

  /** Run the binary kernels on `name` ("portable" or "wasm_simd"; null: the fastest again). */
  setIsa(name) {
    const ok = this._withString(name ?? "", (ptr) => this._m._bmx_web_set_isa(ptr)) === 0;
    if (!ok) throw new BmxError(1, this._string(this._m._bmx_web_error()));
  }

  /**
   * Load a model from its bytes or a URL (path under Node.js).
   * @param {ArrayBuffer|Uint8Array|string|URL} source
   * @param {object} [options] `labels` (array of class names) and `input` (image convention, see Model)
   * @returns {Promise<Model>}
   */
  async loadModel(source, options = {}) {
    const bytes = source instanceof ArrayBuffer ? new Uint8Array(source)
      : ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
      : await readBytes(source);
    return this.loadModelBytes(bytes, options);
  }

  /** Synchronous loadModel() for bytes already in memory. */
  loadModelBytes(bytes, options = {}) {
    const m = this._m;
    const data = this._alloc(bytes.byteLength);
    const out = this._alloc(4);
    try {
      m.HEAPU8.set(bytes, data);
      this._check(m._bmx_model_load_memory(data, bytes.byteLength, out));
      return new Model(this, new Uint32Array(m.HEAPU8.buffer, out, 1)[0], options);
    } finally {
      m._free(data);
      m._free(out);
    }
  }

  _alloc(n) {
    const ptr = this._m._malloc(Math.max(n, 1));
    if (!ptr) throw new BmxError(5, `cannot allocate ${n} bytes in WebAssembly memory`);
    return ptr;
  }

  _check(status) {
    if (status !== 0) throw new BmxError(status, this._string(this._m._bmx_last_error()));
  }

  _string(ptr) { return this._m.UTF8ToString(ptr); }

  _withString(text, fn) {
    const n = this._m.lengthBytesUTF8(text) + 1;
    const ptr = this._alloc(n);
    try {
      this._m.stringToUTF8(text, ptr, n);
      return fn(ptr);
    } finally {
      this._m._free(ptr);
    }
  }
}

/**
 * A loaded model. `inputs` / `outputs` list `{ name, dtype, shape, size }` (size in elements).
 *
 * Image input convention (`options.input`), for classify() and imageToInput(), the same as the runtime's
 * bmx_input_convention: the model's first input is (1, C, H, W); the image is drawn scaled to W x H and each
 * value is `(pixel[c] * scale - mean[c]) / std[c]`, pixels 0..255 in the `color` order "rgb" or "bgr" (C = 3)
 * or "gray" (C = 1: the luma 0.299 R + 0.587 G + 0.114 B). Defaults, as the runtime's for files that record
 * none: ImageNet's (rgb, scale 1 / 255, mean 0.485 0.456 0.406, std 0.229 0.224 0.225; gray for C = 1).
 */
export class Model {
  constructor(runtime, handle, { labels = null, input = {} } = {}) {
    this._rt = runtime;
    this._h = handle;
    this.labels = labels;
    this.inputs = this._infos("input");
    this.outputs = this._infos("output");
    const channels = this.inputs[0]?.shape[1];
    this.input = { color: channels === 1 ? "gray" : "rgb", ...IMAGENET, ...input };
  }

  /**
   * Run the model.
   * @param {...(Float32Array|Int32Array|BigUint64Array)} inputs one typed array per input, of its dtype and size
   * @returns {{ outputs: Array, ms: number }} copies of the outputs and the wall time of bmx_model_run in ms
   */
  run(...inputs) {
    const m = this._rt._m;
    if (inputs.length !== this.inputs.length) {
      throw new BmxError(1, `expected ${this.inputs.length} input(s), got ${inputs.length}`);
    }
    inputs.forEach((array, i) => {
      const info = this.inputs[i];
      if (!(array instanceof DTYPES[info.dtypeCode].array) || array.length !== info.size) {
        throw new BmxError(1, `input ${i} ('${info.name}'): expected a ${DTYPES[info.dtypeCode].array.name} of ` +
                              `${info.size} elements (shape ${info.shape.join("x")}), got ` +
                              `${array?.constructor?.name} of ${array?.length}`);
      }
      this._copyIn(array, (ptr, n) => m._bmx_model_set_input(this._handle(), i, ptr, n));
    });
    const start = performance.now();
    this._rt._check(m._bmx_model_run(this._handle()));
    const ms = performance.now() - start;
    const outputs = this.outputs.map((info, i) => this._copyOut(info, i));
    return { outputs, ms };
  }

  /**
   * Classify an image: imageToInput() then run(); `topk` best classes of the first output.
   * @returns {{ top: Array<{index:number,label:string|null,score:number}>, scores: Float32Array, ms: number }}
   */
  classify(image, { topk = 3 } = {}) {
    const { outputs, ms } = this.run(this.imageToInput(image));
    const scores = outputs[0];
    const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]).slice(0, topk);
    const top = order.map((index) => ({ index, label: this.labels?.[index] ?? null, score: scores[index] }));
    return { top, scores, ms };
  }

  /** The first input (1, C, H, W) made from an image, canvas, ImageData or video (browser only). */
  imageToInput(image) {
    const [n, c, h, w] = this.inputs[0].shape;
    if (this.inputs[0].shape.length !== 4 || n !== 1 || (c !== 1 && c !== 3)) {
      throw new BmxError(1, `imageToInput needs an input of shape (1, 1 or 3, H, W), got (${this.inputs[0].shape})`);
    }
    const canvas = typeof OffscreenCanvas === "function" ? new OffscreenCanvas(w, h)
      : Object.assign(document.createElement("canvas"), { width: w, height: h });
    const context = canvas.getContext("2d", { willReadFrequently: true });
    if (image instanceof ImageData) context.putImageData(image, 0, 0);  // already W x H
    else context.drawImage(image, 0, 0, w, h);
    const rgba = context.getImageData(0, 0, w, h).data;
    const { color, scale, mean, std } = this.input;
    if ((c === 1) !== (color === "gray") || !["rgb", "bgr", "gray"].includes(color)) {
      throw new BmxError(1, `input color "${color}" does not fit ${c} channel(s): expected "gray" for 1, "rgb" ` +
                            `or "bgr" for 3`);
    }
    const order = color === "bgr" ? [2, 1, 0] : [0, 1, 2];
    const out = new Float32Array(c * h * w);
    for (let p = 0; p < h * w; ++p) {
      const rgb = rgba.subarray(4 * p, 4 * p + 3);
      for (let k = 0; k < c; ++k) {
        const pixel = c === 1 ? 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] : rgb[order[k]];
        out[k * h * w + p] = (pixel * scale - mean[k % mean.length]) / std[k % std.length];
      }
    }
    return out;
  }

  /** Bytes the model holds: { arena, scratch, weights }. */
  memory() {
    const m = this._rt._m;
    const ptr = this._rt._alloc(12);
    try {
      this._rt._check(m._bmx_model_memory(this._handle(), ptr, ptr + 4, ptr + 8));
      const [arena, scratch, weights] = new Uint32Array(m.HEAPU8.buffer, ptr, 3);
      return { arena, scratch, weights };
    } finally {
      m._free(ptr);
    }
  }

  /** Time every node in the following runs (true; resets the totals) or stop timing (false). */
  setProfiling(enabled) {
    this._rt._check(this._rt._m._bmx_model_set_profiling(this._handle(), enabled ? 1 : 0));
  }

  /** Per node, summed over the profiled runs: [{ name, op, totalMs, runs }], in execution order. */
  profile() {
    const m = this._rt._m;
    const count = this._rt._alloc(4);
    const record = this._rt._alloc(PROFILE.size);
    try {
      this._rt._check(m._bmx_model_num_nodes(this._handle(), count));
      return Array.from({ length: new Uint32Array(m.HEAPU8.buffer, count, 1)[0] }, (_, i) => {
        this._rt._check(m._bmx_model_node_profile(this._h, i, record));
        const view = new DataView(m.HEAPU8.buffer, record, PROFILE.size);
        return { name: this._rt._string(view.getUint32(PROFILE.name, true)),
                 op: this._rt._string(view.getUint32(PROFILE.op, true)),
                 totalMs: view.getFloat64(PROFILE.totalMs, true), runs: Number(view.getBigInt64(PROFILE.runs, true)) };
      });
    } finally {
      m._free(count);
      m._free(record);
    }
  }

  /** Release the model's WebAssembly memory; the model cannot be used afterwards. */
  free() {
    if (this._h) this._rt._m._bmx_model_free(this._h);
    this._h = 0;
  }

  _handle() {
    if (!this._h) throw new BmxError(1, "the model was freed");
    return this._h;
  }

  _infos(kind) {
    const m = this._rt._m;
    const count = this._rt._alloc(4);
    const info = this._rt._alloc(INFO.size);
    try {
      this._rt._check(m[`_bmx_model_num_${kind}s`](this._h, count));
      const n = new Uint32Array(m.HEAPU8.buffer, count, 1)[0];
      return Array.from({ length: n }, (_, i) => {
        this._rt._check(m[`_bmx_model_${kind}_info`](this._h, i, info));
        const view = new DataView(m.HEAPU8.buffer, info, INFO.size);
        const dtypeCode = view.getInt32(INFO.dtype, true);
        const shape = Array.from({ length: view.getInt32(INFO.ndim, true) },
                                 (_, d) => Number(view.getBigInt64(INFO.dims + 8 * d, true)));
        const nbytes = view.getUint32(INFO.nbytes, true);
        return { name: this._rt._string(view.getUint32(INFO.name, true)), dtype: DTYPES[dtypeCode].name, dtypeCode,
                 shape, size: nbytes / DTYPES[dtypeCode].array.BYTES_PER_ELEMENT, nbytes };
      });
    } finally {
      m._free(count);
      m._free(info);
    }
  }

  _copyIn(array, fn) {
    const m = this._rt._m;
    const ptr = this._rt._alloc(array.byteLength);
    try {
      m.HEAPU8.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), ptr);
      this._rt._check(fn(ptr, array.byteLength));
    } finally {
      m._free(ptr);
    }
  }

  _copyOut(info, index) {
    const m = this._rt._m;
    const ptr = this._rt._alloc(info.nbytes);
    try {
      this._rt._check(m._bmx_model_get_output(this._h, index, ptr, info.nbytes));
      return new DTYPES[info.dtypeCode].array(m.HEAPU8.slice(ptr, ptr + info.nbytes).buffer);
    } finally {
      m._free(ptr);
    }
  }
}
