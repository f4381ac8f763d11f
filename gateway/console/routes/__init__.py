"""The console's routes, by what they are about; ``gateway.console.app`` puts them together."""
