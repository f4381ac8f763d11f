"""Playbooks: the site's emergency procedures as validated, compiled values."""
