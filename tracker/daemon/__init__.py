"""The polling daemon: dispatch, polling, page fetching, alert delivery, health, metrics and its workers."""
