// Time .bmx models on the WebAssembly runtime under Node.js for tools/benchmark/web.py.
//
//   node bench.mjs REQUEST.json
// REQUEST: { wasm: build folder, simd: true | false (which build), isa: kernels to force or null,
//            models: [{ name, path, input: raw float32 file }], repeat, warmup, warmupMs }
// Each model warms up for `warmup` runs and at least `warmupMs` milliseconds: V8 first runs WebAssembly on
// its baseline compiler (Liftoff) and swaps in optimised code (TurboFan) compiled in the background; a
// model of half a millisecond is still on baseline code after 10 runs.
// Prints { build, isa, models: { name: [run times in ms] } } as JSON.
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const { loadRuntime } = await import(new URL("../../web/bmx.js", import.meta.url).href);
const request = JSON.parse(await readFile(process.argv[2], "utf8"));
const runtime = await loadRuntime({ wasmUrl: pathToFileURL(request.wasm + "/"), simd: request.simd });
if (request.isa) runtime.setIsa(request.isa);
const times = {};
for (const { name, path, input } of request.models) {
  const model = await runtime.loadModel(path);
  const bytes = await readFile(input);
  const x = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const start = performance.now();
  for (let i = 0; i < request.warmup || performance.now() - start < (request.warmupMs ?? 0); ++i) model.run(x);
  times[name] = Array.from({ length: request.repeat }, () => model.run(x).ms);
  model.free();
}
console.log(JSON.stringify({ build: runtime.build, isa: runtime.isa, models: times }));
