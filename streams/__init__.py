"""The stream worker: a Faust app whose interactions reader feeds the detection engine and writes cases, alerts and
dead letters, and whose decisions agent turns reviewers' verdicts into alerts."""
