"""The incident engine: a pure state machine over signals, commands and time."""
