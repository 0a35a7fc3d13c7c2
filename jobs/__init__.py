"""The job domain: records and states, chunk planning, split, reassembly, stage drivers."""
