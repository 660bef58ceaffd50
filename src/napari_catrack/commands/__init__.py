"""Sub-commands of the `catrack` CLI: one module per command, each with `register(subparsers)`."""
