"""The Ray backend: jobs on a Ray cluster a team runs itself, through its Jobs API."""
