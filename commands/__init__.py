"""The `shuying` command families, one module each; cli.py assembles them into one group."""
