"""A local HTTP server for the demo page: ``/`` serves ``web/`` (page and JS API), ``/wasm/`` the WebAssembly
build, ``/models/`` the converted models and ``models.json``. Binds 127.0.0.1 only: it is a development
server, not meant for a network."""
import functools
import http.server
import os
import posixpath
import urllib.parse

from .build import REPO

STATIC_DIR = os.path.join(REPO, "web")
HOST = "127.0.0.1"


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json"}

    def __init__(self, *args, mounts, quiet, **kwargs):
        self.mounts, self.quiet = mounts, quiet
        super().__init__(*args, directory=mounts["/"], **kwargs)

    def translate_path(self, path):
        """Map ``/wasm/...`` and ``/models/...`` to their folders, the rest to the static folder."""
        path = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        for prefix, folder in self.mounts.items():
            if prefix != "/" and (path == prefix.rstrip("/") or path.startswith(prefix)):
                parts = [p for p in path[len(prefix):].split("/") if p not in ("", ".", "..")]
                return os.path.join(folder, *parts)
        parts = [p for p in path.split("/") if p not in ("", ".", "..")]
        return os.path.join(self.mounts["/"], *parts)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a rebuilt .wasm or model is picked up on reload
        super().end_headers()

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


def make_server(wasm_dir, models_dir, port=8000, static_dir=STATIC_DIR, quiet=False):
    """A ``ThreadingHTTPServer`` on 127.0.0.1:``port`` (0: any free port; see ``server.server_address``)."""
    mounts = {"/wasm/": os.path.abspath(wasm_dir), "/models/": os.path.abspath(models_dir),
              "/": os.path.abspath(static_dir)}
    handler = functools.partial(_Handler, mounts=mounts, quiet=quiet)
    return http.server.ThreadingHTTPServer((HOST, port), handler)
