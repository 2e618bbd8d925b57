"""Binary architectures of the paper and of BMXNet-v2, by name: ``get_model(name)``."""
