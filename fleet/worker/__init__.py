"""The Dramatiq-facing glue: broker set-up, worker middleware, liveness."""
