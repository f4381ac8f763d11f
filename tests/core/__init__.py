"""Tests of the parts on their own: the domain, the points, the engine, the config and
playbooks, the store, the presentation; no process, no network."""
