"""The daemon: lifecycle, pipeline and ack ordering, dispatch, supervision, reload."""
