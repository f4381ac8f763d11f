"""GB/T 26875.3-2011: the fire alarm transmission device (用户信息传输装置) reporting a building's
fire panels to the monitoring center over TCP. ``frame`` cuts and checks frames and builds the
center's confirm and deny; ``adu`` reads the application data (system and component status,
operations, the device's own status); ``codes`` holds the standard's code tables as data."""
