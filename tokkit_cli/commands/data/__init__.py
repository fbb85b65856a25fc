"""``tokkit data``: one module per subcommand; register a new one with one line in the list below."""

from tokkit_cli.commands._group import make_group
from tokkit_cli.commands.data import info, pack

app = make_group("Look at image data and pack it into an HDF5 store.", [("info", info.command), ("pack", pack.command)])
