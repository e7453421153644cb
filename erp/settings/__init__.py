"""Settings: `base` is production (every difference comes from the environment); `local` and
`test` only change defaults for a developer's machine and the test run."""
