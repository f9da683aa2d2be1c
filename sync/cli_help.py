"""Help texts shared by several commands."""

CONFIG_HELP = "the rfmsync TOML config file (see config.example.toml)"
