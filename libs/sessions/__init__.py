"""Session rules: where a burst of generation ends, as pure code (no I/O). The clustering service keeps
every workspace's sessions with it; `atelier sessions segment` and the session benchmark run it offline."""
