"""``alarm-gateway``: the command line."""
