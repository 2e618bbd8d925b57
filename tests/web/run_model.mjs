// Run a .bmx model through web/bmx.js under Node.js for the Python tests (tests/web/wasm.py).
//
//   node run_model.mjs REQUEST.json
// REQUEST: { wasm: folder of bmx_web.mjs, model: .bmx path, isa: "portable" | "wasm_simd" | null,
//            simd: "auto" | true | false (the build, as loadRuntime takes it; default "auto"),
//            inputs: [raw little-endian files, one per model input], output_dir: folder }
// Writes output_dir/output<i>.bin (raw bytes of each output) and prints { isa, version, outputs: [{ name, dtype,
// shape }] } as JSON.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const here = new URL(".", import.meta.url);
const { loadRuntime } = await import(new URL("../../web/bmx.js", here).href);

const request = JSON.parse(await readFile(process.argv[2], "utf8"));
const runtime = await loadRuntime({ wasmUrl: pathToFileURL(request.wasm + "/"), simd: request.simd ?? "auto" });
if (request.isa) runtime.setIsa(request.isa);
const model = await runtime.loadModel(request.model);
const arrays = await Promise.all(request.inputs.map(async (path, i) => {
  const bytes = await readFile(path);
  const Type = { float32: Float32Array, int32: Int32Array, uint64: BigUint64Array }[model.inputs[i].dtype];
  return new Type(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}));
const { outputs } = model.run(...arrays);
await Promise.all(outputs.map((array, i) => writeFile(join(request.output_dir, `output${i}.bin`),
                                                        new Uint8Array(array.buffer))));
console.log(JSON.stringify({ isa: runtime.isa, build: runtime.build, version: runtime.version,
                             outputs: model.outputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })) }));
model.free();
