"""The site config: YAML with line numbers, pydantic schema, compiled frozen values."""
