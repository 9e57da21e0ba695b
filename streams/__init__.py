"""The stream worker: Faust agents that feed the detection engine and write cases, alerts and dead letters."""
