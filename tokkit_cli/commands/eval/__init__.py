"""``tokkit eval``: one module per subcommand; register a new one with one line in the list below."""

from tokkit_cli.commands._group import make_group
from tokkit_cli.commands.eval import compare, generation, latent, probe_check, recon, stability, stats, table

app = make_group(
    "Evaluate tokenizers: reconstruction, latent stability, downstream generation, side by side.",
    [
        ("recon", recon.command),
        ("stability", stability.command),
        ("latent", latent.command),
        ("generation", generation.command),
        ("compare", compare.command),
        ("probe-check", probe_check.command),
        ("stats", stats.command),
        ("table", table.command),
    ],
)
