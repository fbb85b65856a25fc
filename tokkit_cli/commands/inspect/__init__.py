"""``tokkit inspect``: one module per subcommand; register a new one with one line in the list below."""

from tokkit_cli.commands._group import make_group
from tokkit_cli.commands.inspect import codebook, features, tokens

app = make_group(
    "Look inside codebooks, latents, feature stores and token stores.",
    [("codebook", codebook.command), ("features", features.command), ("tokens", tokens.command)],
)
