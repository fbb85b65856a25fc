"""One module per command: ``GROUP/NAME.py`` (``command`` function) or ``NAME.py`` for a top-level command.

A group's ``__init__.py`` builds its Typer app from a list of ``(name, module.command)``; the root app
(``tokkit_cli.app``) registers the groups and top-level commands. Commands parse options, call one
library function and hand the result to ``tokkit_cli.render``; they draw nothing themselves."""
