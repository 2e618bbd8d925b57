"""Resolve a Larq-style identifier (None, a registered name, a ``{"name": ..., **kwargs}`` dict, an instance or
a callable) against a registry of classes: the one rule behind ``quantizers.get`` and ``constraints.get``."""

__all__ = ["resolve"]


def resolve(identifier, registry, *, kind, instance_type, callable_form):
    """The object ``identifier`` names in ``registry`` (name -> class).

    - ``None`` -> ``None``; an ``instance_type`` -> itself; any other callable (not a class) -> itself;
    - a registered name -> its class built with default arguments;
    - a dict ``{"name": ..., **kwargs}`` -> its class built with ``kwargs``.

    Anything else, or arguments the class does not take, raise ``ValueError`` naming the value, the ``kind``
    of object expected and the registered names; ``callable_form`` describes the accepted callables.
    """
    if identifier is None or isinstance(identifier, instance_type):
        return identifier
    if isinstance(identifier, str) and identifier in registry:
        return registry[identifier]()
    if isinstance(identifier, dict) and identifier.get("name") in registry:
        kwargs = {k: v for k, v in identifier.items() if k != "name"}
        try:
            return registry[identifier["name"]](**kwargs)
        except TypeError as err:
            raise ValueError(f"Cannot build {kind} from {identifier!r}: {err}.") from None
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    raise ValueError(f"Expected a {kind}: None, one of {sorted(registry)}, a dict {{'name': ..., **kwargs}}, "
                     f"a {instance_type.__name__} or {callable_form}, got {identifier!r}.")
