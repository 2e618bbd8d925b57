"""``python -m tools.web [serve|build|models]``: the demo page of the WebAssembly runtime (docs/web.md).

``serve`` (the default) converts the demo models once, builds the WebAssembly runtime if needed and serves the
page on http://127.0.0.1:PORT/; ``build`` and ``models`` do one step each.
"""
import os
import sys

from bmxnet_ext.cli import ArgumentParser, existing_folder, positive_int, run

from . import build as wasm_build
from . import models, server

PROG = "python -m tools.web"
DEFAULT_MODELS_DIR = os.path.join(wasm_build.BUILD_DIR, "models")


def parse_args(argv=None):
    parser = ArgumentParser(prog=PROG, description="Build, prepare and serve the WebAssembly demo page.")
    parser.add_argument("command", nargs="?", default="serve", choices=("serve", "build", "models"),
                        help="serve the page (default), only build the WebAssembly runtime, or only convert models")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000; 0: any free)")
    parser.add_argument("--build-dir", default=wasm_build.BUILD_DIR,
                        help=f"WebAssembly build folder (default: {os.path.relpath(wasm_build.BUILD_DIR)})")
    parser.add_argument("--models-dir", default=DEFAULT_MODELS_DIR,
                        help=f"converted models and models.json (default: {os.path.relpath(DEFAULT_MODELS_DIR)})")
    parser.add_argument("--models-source", type=existing_folder, default=None,
                        help="folder of BMXNet v1's released models (default: $BMXNET_SHARED_DIR/models/bmxnet-v1)")
    parser.add_argument("--model", action="append", choices=sorted(models.DEMO_MODELS), default=None,
                        help="a demo model to prepare, repeatable (default: all)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="parallel compile jobs (default: 2)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"argument --port: expected a port in 0..65535, got {args.port}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.command in ("serve", "models"):  # before the build: a missing model fails in seconds, not minutes
        manifest = models.prepare(args.models_dir, tuple(args.model or models.DEMO_MODELS),
                                  args.models_source or models.DEFAULT_SOURCE)
        print(f"models: {', '.join(m['name'] for m in manifest['models'])} in {args.models_dir}")
    if args.command in ("serve", "build"):
        wasm_build.build(build_dir=args.build_dir, jobs=args.jobs)
        print(f"WebAssembly runtime: {args.build_dir}")
    if args.command == "serve":
        httpd = server.make_server(args.build_dir, args.models_dir, port=args.port)
        host, port = httpd.server_address[:2]
        print(f"serving the demo on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
        with httpd:
            httpd.serve_forever()


if __name__ == "__main__":
    sys.exit(run(PROG, main))
