"""How incidents, events and figures are said to people: CLI text, reports, KPIs."""
