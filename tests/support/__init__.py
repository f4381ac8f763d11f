"""What the tests share: real processes and servers (``processes``), the sites and payloads of
the daemon's tests (``sites``), the engine on a virtual clock (``engine``), the daemon
in-process (``inprocess``), and the fault tests' helpers (``faults``)."""
