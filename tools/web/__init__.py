"""The binary runtime in a web page: WebAssembly build (:mod:`.build`), demo models (:mod:`.models`), local
server (:mod:`.server`); ``python -m tools.web`` (docs/web.md)."""
