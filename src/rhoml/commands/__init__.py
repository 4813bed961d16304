"""CLI command modules. Each module here defines ``register(subparsers)`` which adds its
sub-command(s) and sets ``handler=function(args) -> int`` as a parser default; ``rhoml.cli``
discovers them, so a capability brings its own command without editing the core CLI."""
