"""Quick commands for the first minute with a tokenizer: `encode` (one text's split), `inspect`
(what a tokenizer file holds) and `compare` (tokenizers side by side on a text or a corpus).

They answer on stdout and write no output folder unless `--out` is given: they are lookups, not
jobs (each module still has the job's three names: a config, a report and `run`)."""
