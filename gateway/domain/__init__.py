"""Domain values: points, signals, incidents, conditions, drill windows. No I/O."""
